/* libFuzzer target: layer unpacking. The input is read as a tar — wrapped in gzip when
 * its first byte is odd — or, when it starts with 0xff, as a list of entries that the
 * harness writes as a valid tar (so mutations reach the entry logic instead of dying on
 * header checksums).
 * The result is applied to a fresh dest inside a fresh parent;
 * afterwards nothing but dest may exist in the parent, and no fd may be left open.
 * A failure must carry a message. Run as root (whiteouts need mknod):
 * build/fuzz/fuzz_unpack -max_total_time=60 fuzz/corpus/unpack */
#include "base/dl_archive.h"
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

/* Entry records: type byte, NUL-terminated path, NUL-terminated link target, one
 * length byte and that much data. */
static const uint8_t *take_str(const uint8_t *p, const uint8_t *end, char *out, size_t max)
{
	size_t n = 0;
	while (p < end && *p && n < max - 1)
		out[n++] = (char)*p++;
	out[n] = '\0';
	while (p < end && *p)
		p++;
	return p < end ? p + 1 : end;
}

static int entries_fd(const uint8_t *p, const uint8_t *end)
{
	static const mode_t types[] = {AE_IFREG, AE_IFDIR, AE_IFLNK, AE_IFREG,
				       AE_IFIFO, AE_IFCHR, AE_IFBLK, AE_IFDIR};
	int fd = memfd_create("entries", MFD_CLOEXEC);
	struct archive *a = archive_write_new();

	archive_write_set_format_pax_restricted(a);
	archive_write_open_fd(a, fd);
	for (int n = 0; p < end && n < 64; n++) {
		char path[512], target[512];
		uint8_t t = *p++;
		size_t len;
		struct archive_entry *e = archive_entry_new();

		p = take_str(p, end, path, sizeof(path));
		p = take_str(p, end, target, sizeof(target));
		len = p < end ? *p++ : 0;
		if (len > (size_t)(end - p))
			len = (size_t)(end - p);
		archive_entry_set_pathname(e, path[0] ? path : "x");
		archive_entry_set_filetype(e, types[t & 7]);
		archive_entry_set_perm(e, (mode_t)(t >> 3) * 0111);
		if ((t & 7) == 2)
			archive_entry_set_symlink(e, target[0] ? target : "/");
		if ((t & 7) == 3)
			archive_entry_set_hardlink(e, target[0] ? target : "x");
		archive_entry_set_size(e, (t & 7) == 0 ? (la_int64_t)len : 0);
		if (archive_write_header(a, e) == ARCHIVE_OK && (t & 7) == 0 && len)
			archive_write_data(a, p, len);
		p += len;
		archive_entry_free(e);
	}
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
	bool entries = size > 0 && data[0] == 0xff;
	bool gz = !entries && size > 0 && (data[0] & 1);

	if (!mkdtemp(parent))
		abort();
	snprintf(dest, sizeof(dest), "%s/dest", parent);
	if (mkdir(dest, 0755) < 0)
		abort();
	probe_before = dup(0);
	close(probe_before);
	if (entries) {
		fd = entries_fd(data + 1, data + size);
	} else if (gz) {
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
