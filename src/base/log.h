/* log: leveled logging to stderr or a file, as text or JSON lines (runc's --log-format).
 * Errors meant for the user are printed by the CLI, not here; this is the debug trail. */
#ifndef COOP_BASE_LOG_H
#define COOP_BASE_LOG_H

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* file NULL = stderr; json selects {"level","msg","time"} lines. */
int log_setup(const char *file, int json, enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
enum log_level log_level(void);

#define log_debug(...) do { if (log_level() >= LOG_DEBUG) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
