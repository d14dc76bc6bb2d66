/* dl_archive: libarchive, loaded on first use (see base/dl.h): layer unpacking, image
 * import and save. Include this instead of <archive.h> and <archive_entry.h>; callers'
 * entry points call dl_load(&dl_archive, err) first, for a clear error. */
#ifndef COOP_BASE_DL_ARCHIVE_H
#define COOP_BASE_DL_ARCHIVE_H

#include <archive.h>
#include <archive_entry.h>

#include "base/dl.h"

#define DL_ARCHIVE_SONAME "libarchive.so.13"
#define DL_ARCHIVE_PACKAGE "libarchive13"

/* The functions coop calls; adding a call to another one means adding it here. */
#define DL_ARCHIVE_FUNCS(X) \
	X(archive_entry_atime) X(archive_entry_atime_is_set) X(archive_entry_atime_nsec) \
	X(archive_entry_filetype) X(archive_entry_free) X(archive_entry_gid) \
	X(archive_entry_hardlink) X(archive_entry_mtime) X(archive_entry_mtime_is_set) \
	X(archive_entry_mtime_nsec) X(archive_entry_new) X(archive_entry_pathname) \
	X(archive_entry_perm) X(archive_entry_rdev) X(archive_entry_set_filetype) \
	X(archive_entry_set_gid) X(archive_entry_set_hardlink) X(archive_entry_set_mtime) \
	X(archive_entry_set_pathname) X(archive_entry_set_perm) X(archive_entry_set_rdev) \
	X(archive_entry_set_size) X(archive_entry_set_symlink) X(archive_entry_set_uid) \
	X(archive_entry_size) X(archive_entry_size_is_set) X(archive_entry_symlink) \
	X(archive_entry_uid) X(archive_entry_xattr_add_entry) X(archive_entry_xattr_next) \
	X(archive_entry_xattr_reset) X(archive_error_string) X(archive_read_data_block) \
	X(archive_read_free) X(archive_read_new) X(archive_read_next_header) \
	X(archive_read_open_fd) X(archive_read_support_filter_all) \
	X(archive_read_support_filter_gzip) X(archive_read_support_filter_none) \
	X(archive_read_support_filter_zstd) X(archive_read_support_format_raw) \
	X(archive_read_support_format_tar) X(archive_write_add_filter) \
	X(archive_write_add_filter_gzip) X(archive_write_add_filter_none) \
	X(archive_write_close) X(archive_write_data) X(archive_write_free) \
	X(archive_write_header) X(archive_write_new) X(archive_write_open_fd) \
	X(archive_write_open_filename) X(archive_write_open_memory) \
	X(archive_write_set_format) X(archive_write_set_format_pax_restricted) \
	X(archive_write_set_format_raw)

struct dl_archive_fns {
	DL_ARCHIVE_FUNCS(DL_MEMBER)
};
extern struct dl_lib dl_archive;
extern struct dl_archive_fns dl_archive_fns;

#ifndef DL_IMPL
#define archive_entry_atime (DL_CALLS(archive).archive_entry_atime)
#define archive_entry_atime_is_set (DL_CALLS(archive).archive_entry_atime_is_set)
#define archive_entry_atime_nsec (DL_CALLS(archive).archive_entry_atime_nsec)
#define archive_entry_filetype (DL_CALLS(archive).archive_entry_filetype)
#define archive_entry_free (DL_CALLS(archive).archive_entry_free)
#define archive_entry_gid (DL_CALLS(archive).archive_entry_gid)
#define archive_entry_hardlink (DL_CALLS(archive).archive_entry_hardlink)
#define archive_entry_mtime (DL_CALLS(archive).archive_entry_mtime)
#define archive_entry_mtime_is_set (DL_CALLS(archive).archive_entry_mtime_is_set)
#define archive_entry_mtime_nsec (DL_CALLS(archive).archive_entry_mtime_nsec)
#define archive_entry_new (DL_CALLS(archive).archive_entry_new)
#define archive_entry_pathname (DL_CALLS(archive).archive_entry_pathname)
#define archive_entry_perm (DL_CALLS(archive).archive_entry_perm)
#define archive_entry_rdev (DL_CALLS(archive).archive_entry_rdev)
#define archive_entry_set_filetype (DL_CALLS(archive).archive_entry_set_filetype)
#define archive_entry_set_gid (DL_CALLS(archive).archive_entry_set_gid)
#define archive_entry_set_hardlink (DL_CALLS(archive).archive_entry_set_hardlink)
#define archive_entry_set_mtime (DL_CALLS(archive).archive_entry_set_mtime)
#define archive_entry_set_pathname (DL_CALLS(archive).archive_entry_set_pathname)
#define archive_entry_set_perm (DL_CALLS(archive).archive_entry_set_perm)
#define archive_entry_set_rdev (DL_CALLS(archive).archive_entry_set_rdev)
#define archive_entry_set_size (DL_CALLS(archive).archive_entry_set_size)
#define archive_entry_set_symlink (DL_CALLS(archive).archive_entry_set_symlink)
#define archive_entry_set_uid (DL_CALLS(archive).archive_entry_set_uid)
#define archive_entry_size (DL_CALLS(archive).archive_entry_size)
#define archive_entry_size_is_set (DL_CALLS(archive).archive_entry_size_is_set)
#define archive_entry_symlink (DL_CALLS(archive).archive_entry_symlink)
#define archive_entry_uid (DL_CALLS(archive).archive_entry_uid)
#define archive_entry_xattr_add_entry (DL_CALLS(archive).archive_entry_xattr_add_entry)
#define archive_entry_xattr_next (DL_CALLS(archive).archive_entry_xattr_next)
#define archive_entry_xattr_reset (DL_CALLS(archive).archive_entry_xattr_reset)
#define archive_error_string (DL_CALLS(archive).archive_error_string)
#define archive_read_data_block (DL_CALLS(archive).archive_read_data_block)
#define archive_read_free (DL_CALLS(archive).archive_read_free)
#define archive_read_new (DL_CALLS(archive).archive_read_new)
#define archive_read_next_header (DL_CALLS(archive).archive_read_next_header)
#define archive_read_open_fd (DL_CALLS(archive).archive_read_open_fd)
#define archive_read_support_filter_all (DL_CALLS(archive).archive_read_support_filter_all)
#define archive_read_support_filter_gzip (DL_CALLS(archive).archive_read_support_filter_gzip)
#define archive_read_support_filter_none (DL_CALLS(archive).archive_read_support_filter_none)
#define archive_read_support_filter_zstd (DL_CALLS(archive).archive_read_support_filter_zstd)
#define archive_read_support_format_raw (DL_CALLS(archive).archive_read_support_format_raw)
#define archive_read_support_format_tar (DL_CALLS(archive).archive_read_support_format_tar)
#define archive_write_add_filter (DL_CALLS(archive).archive_write_add_filter)
#define archive_write_add_filter_gzip (DL_CALLS(archive).archive_write_add_filter_gzip)
#define archive_write_add_filter_none (DL_CALLS(archive).archive_write_add_filter_none)
#define archive_write_close (DL_CALLS(archive).archive_write_close)
#define archive_write_data (DL_CALLS(archive).archive_write_data)
#define archive_write_free (DL_CALLS(archive).archive_write_free)
#define archive_write_header (DL_CALLS(archive).archive_write_header)
#define archive_write_new (DL_CALLS(archive).archive_write_new)
#define archive_write_open_fd (DL_CALLS(archive).archive_write_open_fd)
#define archive_write_open_filename (DL_CALLS(archive).archive_write_open_filename)
#define archive_write_open_memory (DL_CALLS(archive).archive_write_open_memory)
#define archive_write_set_format (DL_CALLS(archive).archive_write_set_format)
#define archive_write_set_format_pax_restricted (DL_CALLS(archive).archive_write_set_format_pax_restricted)
#define archive_write_set_format_raw (DL_CALLS(archive).archive_write_set_format_raw)
DL_ARCHIVE_FUNCS(DL_CHECK)
#endif

#endif
