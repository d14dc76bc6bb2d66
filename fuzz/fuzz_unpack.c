/* libFuzzer target: layer unpacking. Any bytes, read as a tar (plain, or wrapped in
 * gzip when the first byte is odd), are applied to a fresh dest inside a fresh parent;
 * afterwards nothing but dest may exist in the parent, and no fd may be left open.
 * A failure must carry a message. Run as root (whiteouts need mknod):
 * build/fuzz/fuzz_unpack -max_total_time=60 fuzz/corpus/unpack */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/log.h"
#include "image/unpack.h"

static const char *dest_path;

static int check(const char *p, const struct stat *sb, int type, struct FTW *ftw)
{
	size_t n = strlen(dest_path);

	(void)sb;
	(void)type;
	if (ftw->level == 0 || (strncmp(p, dest_path, n) == 0 && (p[n] == '\0' || p[n] == '/')))
		return 0;
	fprintf(stderr, "escaped: %s\n", p);
	abort();
}

static int gzip_fd(const uint8_t *data, size_t size)
{
	int fd = memfd_create("gz", MFD_CLOEXEC);
	struct archive *a = archive_write_new();

	archive_write_set_format_raw(a);
	archive_write_add_filter_gzip(a);
	archive_write_open_fd(a, fd);
	/* raw format needs one header */
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_pathname(e, "x");
	archive_write_header(a, e);
	archive_entry_free(e);
	if (size)
		archive_write_data(a, data, size);
	archive_write_close(a);
	archive_write_free(a);
	lseek(fd, 0, SEEK_SET);
	return fd;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_setup(NULL, 0, LOG_ERROR);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char parent[] = "/tmp/coop-fuzz-unpack-XXXXXX";
	char dest[sizeof(parent) + 8];
	struct img_unpack_opts o = {.set_owners = true, .what = "fuzz layer"};
	struct err err = {0};
	int fd, probe_before, probe_after, r;
	bool gz = size > 0 && (data[0] & 1);

	if (!mkdtemp(parent))
		abort();
	snprintf(dest, sizeof(dest), "%s/dest", parent);
	if (mkdir(dest, 0755) < 0)
		abort();
	probe_before = dup(0);
	close(probe_before);
	if (gz) {
		fd = gzip_fd(data, size);
	} else {
		fd = memfd_create("tar", MFD_CLOEXEC);
		if (size && write(fd, data, size) != (ssize_t)size)
			abort();
		lseek(fd, 0, SEEK_SET);
	}
	r = img_unpack_fd(fd, gz ? IMG_COMP_GZIP : IMG_COMP_NONE, dest, &o, &err);
	close(fd);
	if (r < 0 && err.msg[0] == '\0')
		abort(); /* a failure must say why */
	if (r < 0 && strchr(err.msg, '\n'))
		abort(); /* one line */
	probe_after = dup(0);
	close(probe_after);
	if (probe_after != probe_before) {
		fprintf(stderr, "fd leak: %d != %d\n", probe_after, probe_before);
		abort();
	}
	dest_path = dest;
	if (nftw(parent, check, 16, FTW_PHYS) < 0)
		abort();
	if (fs_rm_rf(parent, &err) < 0) {
		fprintf(stderr, "cleanup: %s\n", err.msg);
		abort();
	}
	return 0;
}
