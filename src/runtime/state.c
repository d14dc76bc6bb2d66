/* state: on-disk container records and status derivation. */
#include "runtime/state.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>

#include "base/fs.h"
#include "base/js.h"
#include "base/util.h"
#include "runtime/cgroup.h"

const char *rt_status_name(enum rt_status s)
{
	static const char *const names[] = { "creating", "created", "running", "paused",
					     "stopped" };
	return names[s];
}

int rt_id_validate(const char *id, struct err *err)
{
	size_t n = strlen(id);

	if (n == 0 || n > 1024)
		return err_msg(err, EINVAL, "invalid container id '%s': must be 1 to 1024 characters", id);
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  (i > 0 && strchr("_.+-", c));
		if (!ok)
			return err_msg(err, EINVAL,
				       "invalid container id '%s': use letters, digits and _.+- "
				       "(not first)", id);
	}
	return 0;
}

char *rt_state_dir(const char *root, const char *id)
{
	return xasprintf("%s/%s", root, id);
}

uint64_t rt_proc_start_time(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long st = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* comm may hold spaces and parens: fields count from the last ')' */
	p = strrchr(buf, ')');
	if (!p)
		return 0;
	/* after ") " come fields 3..; starttime is field 22 */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d "
			  "%*d %*d %llu", &st) != 1)
		return 0;
	/* a zombie has exited: its status is stopped */
	if (p[2] == 'Z' || p[2] == 'X')
		return 0;
	return st;
}

void rt_state_refresh(struct rt_state *st)
{
	_cleanup_free_ char *fifo = NULL;
	struct rt_cgroup *cg = NULL;

	if (st->pid <= 0) {
		st->status = RT_CREATING;
		return;
	}
	if (rt_proc_start_time(st->pid) != st->start_time) {
		st->status = RT_STOPPED;
		return;
	}
	fifo = xasprintf("%s/exec.fifo", st->dir);
	if (access(fifo, F_OK) == 0) {
		st->status = RT_CREATED;
		return;
	}
	st->status = RT_RUNNING;
	if (st->cgroup && rt_cgroup_open(st->cgroup, &cg, NULL) == 0) {
		if (rt_cgroup_is_frozen(cg, NULL) == 1)
			st->status = RT_PAUSED;
		rt_cgroup_free(cg);
	}
}

int rt_state_load(const char *root, const char *id, struct rt_state **ret, struct err *err)
{
	_cleanup_free_ char *dir = rt_state_dir(root, id);
	_cleanup_free_ char *file = xasprintf("%s/state.json", dir);
	_cleanup_json_ json_t *doc = NULL;
	struct rt_state *st;
	json_t *v;
	json_error_t je;

	if (rt_id_validate(id, err) < 0)
		return -EINVAL;
	doc = json_load_file(file, 0, &je);
	if (!doc) {
		struct stat sb;
		if (stat(dir, &sb) < 0)
			return err_msg(err, ENOENT, "container '%s' does not exist", id);
		/* the directory exists but create has not finished writing its record */
		st = xcalloc(1, sizeof(*st));
		st->id = xstrdup(id);
		st->dir = take_ptr(dir);
		st->status = RT_CREATING;
		*ret = st;
		return 0;
	}
	st = xcalloc(1, sizeof(*st));
	st->id = xstrdup(id);
	st->dir = take_ptr(dir);
	st->pid = json_integer_value(json_object_get(doc, "pid"));
	st->start_time = json_integer_value(json_object_get(doc, "startTime"));
	st->own_pidns = json_is_true(json_object_get(doc, "ownPidns"));
#define STR(field, key) \
	if ((v = json_object_get(doc, key)) && json_is_string(v)) st->field = xstrdup(json_string_value(v))
	STR(bundle, "bundle");
	STR(rootfs, "rootfs");
	STR(created, "created");
	STR(cgroup, "cgroup");
#undef STR
	if ((v = json_object_get(doc, "config")))
		st->config = json_incref(v);
	rt_state_refresh(st);
	*ret = st;
	return 0;
}

int rt_state_save(const struct rt_state *st, struct err *err)
{
	_cleanup_free_ char *file = xasprintf("%s/state.json", st->dir);
	_cleanup_json_ json_t *doc = json_object();
	_cleanup_free_ char *s = NULL;

	json_object_set_new(doc, "id", json_string(st->id));
	json_object_set_new(doc, "pid", json_integer(st->pid));
	json_object_set_new(doc, "startTime", json_integer(st->start_time));
	json_object_set_new(doc, "bundle", json_string(st->bundle));
	json_object_set_new(doc, "rootfs", json_string(st->rootfs));
	json_object_set_new(doc, "created", json_string(st->created));
	if (st->cgroup)
		json_object_set_new(doc, "cgroup", json_string(st->cgroup));
	json_object_set_new(doc, "ownPidns", json_boolean(st->own_pidns));
	if (st->config)
		json_object_set(doc, "config", st->config);
	s = json_dumps(doc, JSON_COMPACT);
	if (!s)
		return err_msg(err, ENOMEM, "encode state of '%s'", st->id);
	/* a power loss ends the container too: atomic, not durable (crun does no more) */
	return fs_replace(file, s, strlen(s), 0600, err);
}

void rt_state_free(struct rt_state *st)
{
	if (!st)
		return;
	free(st->id);
	free(st->dir);
	free(st->bundle);
	free(st->rootfs);
	free(st->created);
	free(st->cgroup);
	if (st->config)
		json_decref(st->config);
	free(st);
}

json_t *rt_state_json(const struct rt_state *st)
{
	json_t *j = json_object();
	json_t *ann = st->config ? json_object_get(st->config, "annotations") : NULL;

	json_object_set_new(j, "ociVersion", json_string("1.2.0"));
	json_object_set_new(j, "id", json_string(st->id));
	json_object_set_new(j, "status", json_string(rt_status_name(st->status)));
	json_object_set_new(j, "pid", json_integer(st->status == RT_STOPPED ? 0 : st->pid));
	json_object_set_new(j, "bundle", json_string(st->bundle ? st->bundle : ""));
	json_object_set_new(j, "rootfs", json_string(st->rootfs ? st->rootfs : ""));
	json_object_set_new(j, "created", json_string(st->created ? st->created : ""));
	json_object_set_new(j, "owner", json_string(""));
	if (ann && json_is_object(ann))
		json_object_set(j, "annotations", ann);
	/* the exit status belongs to whoever waits for the init (run, or an engine's
	 * monitor); what the runtime can still tell after the fact is an OOM kill */
	if (st->status == RT_STOPPED && st->cgroup) {
		struct rt_cgroup *cg = NULL;
		uint64_t ooms = 0;
		if (rt_cgroup_open(st->cgroup, &cg, NULL) == 0) {
			if (rt_cgroup_oom_kills(cg, &ooms, NULL) == 0 && ooms > 0)
				json_object_set_new(j, "oomKilled", json_true());
			rt_cgroup_free(cg);
		}
	}
	return j;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int rt_state_list(const char *root, char ***ret, struct err *err)
{
	_cleanup_closedir_ DIR *d = opendir(root);
	char **ids = xcalloc(1, sizeof(char *));
	struct dirent *de;
	size_t n = 0;

	if (!d) {
		if (errno == ENOENT) {
			*ret = ids;
			return 0;
		}
		free(ids);
		return err_sys(err, errno, "open '%s'", root);
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || rt_id_validate(de->d_name, NULL) < 0)
			continue;
		ids = strv_append(ids, de->d_name);
		n++;
	}
	qsort(ids, n, sizeof(char *), cmp_str);
	*ret = ids;
	return 0;
}
