/* Unit tests for image/imgconfig: Docker's Entrypoint/Cmd override rules, Env merging,
 * WorkingDir, users and groups resolved from a temporary rootfs's /etc/passwd and
 * /etc/group (and never from the host's through a symlink), and annotations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/util.h"
#include "image/imgconfig.h"
#include "image/manifest.h"

static const char passwd[] = "root:x:0:0:root:/root:/bin/sh\n"
			     "# comment\n"
			     "broken line\n"
			     "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
			     "www:x:33:34:www:/var/www:/bin/sh\n"
			     "app:x:1000:1000::/home/app:/bin/sh\n";
static const char group[] = "root:x:0:root\n"
			    "wheel:x:10:root,app\n"
			    "web:x:34:\n"
			    "app:x:1000:\n"
			    "audio:x:29:www,app\n";

struct fx {
	char dir[64];
	char *rootfs;
};

static void write_file(const char *dir, const char *rel, const char *s)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", dir, rel);
	struct err err = {0};
	assert_int_equal(fs_write_atomic(p, s, strlen(s), 0644, &err), 0);
}

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	_cleanup_free_ char *etc = NULL;

	strcpy(f->dir, "/tmp/coop-imgcfg-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	f->rootfs = xasprintf("%s/rootfs", f->dir);
	etc = xasprintf("%s/etc", f->rootfs);
	if (fs_mkdir_p(etc, 0755, NULL) < 0)
		return -1;
	write_file(f->rootfs, "etc/passwd", passwd);
	write_file(f->rootfs, "etc/group", group);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	fs_rm_rf(f->dir, NULL);
	free(f->rootfs);
	free(f);
	return 0;
}

static const struct {
	const char *user;
	int rc;
	unsigned uid, gid;
	const char *groups; /* "10,29" */
	const char *msg;
} users[] = {
    {"", 0, 0, 0, "0,10", NULL}, /* root, and root's groups */
    {"root", 0, 0, 0, "0,10", NULL},
    {"0", 0, 0, 0, "0,10", NULL},
    {"app", 0, 1000, 1000, "10,29", NULL},
    {"1000", 0, 1000, 1000, "10,29", NULL},
    {"www", 0, 33, 34, "29", NULL},
    {"daemon", 0, 1, 1, "", NULL},
    {"4242", 0, 4242, 0, "", NULL}, /* numeric, no passwd entry: gid 0 */
    {"4242:77", 0, 4242, 77, "", NULL},
    {"app:web", 0, 1000, 34, "", NULL}, /* explicit group: no supplementary ones */
    {"app:0", 0, 1000, 0, "", NULL},
    {"www:", 0, 33, 34, "29", NULL},
    {":web", 0, 0, 34, "", NULL},
    {"nobody", -ENOENT, 0, 0, NULL, "user 'nobody' not found in the image's /etc/passwd"},
    {"app:nogroup", -ENOENT, 0, 0, NULL, "group 'nogroup' not found in the image's /etc/group"},
    {"99999999999", -ENOENT, 0, 0, NULL, "not found"},
};

static void test_users(void **state)
{
	struct fx *f = *state;

	for (size_t i = 0; i < ARRAY_SIZE(users); i++) {
		unsigned uid = 7, gid = 7, *groups = NULL;
		size_t n = 0;
		struct err err = {0};
		char list[128] = "";
		int rc = img_resolve_user(f->rootfs, users[i].user, &uid, &gid, &groups, &n, &err);

		print_message("'%s' -> %d %s\n", users[i].user, rc, err.msg);
		assert_int_equal(rc, users[i].rc);
		if (rc < 0) {
			assert_non_null(strstr(err.msg, users[i].msg));
			continue;
		}
		for (size_t g = 0; g < n; g++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%u",
				 g ? "," : "", groups[g]);
		assert_int_equal(uid, users[i].uid);
		assert_int_equal(gid, users[i].gid);
		assert_string_equal(list, users[i].groups);
		free(groups);
	}
}

static void test_no_passwd(void **state)
{
	struct fx *f = *state;
	_cleanup_free_ char *p = xasprintf("%s/etc/passwd", f->rootfs);
	_cleanup_free_ char *g = xasprintf("%s/etc/group", f->rootfs);
	unsigned uid, gid, *groups = NULL;
	size_t n;
	struct err err = {0};

	unlink(p);
	unlink(g);
	assert_int_equal(img_resolve_user(f->rootfs, NULL, &uid, &gid, &groups, &n, &err), 0);
	assert_int_equal(uid, 0);
	assert_int_equal(n, 0);
	assert_int_equal(img_resolve_user(f->rootfs, "123:45", &uid, &gid, NULL, NULL, &err), 0);
	assert_int_equal(uid, 123);
	assert_int_equal(gid, 45);
	assert_int_equal(img_resolve_user(f->rootfs, "app", &uid, &gid, NULL, NULL, &err), -ENOENT);
	assert_int_equal(img_resolve_user(f->rootfs, "1:grp", &uid, &gid, NULL, NULL, &err),
			 -ENOENT);
}

/* /etc/passwd -> /etc/passwd (absolute) must resolve inside the rootfs, not on the host;
 * so must ../../../etc/group. */
static void test_symlinks_stay_inside(void **state)
{
	struct fx *f = *state;
	_cleanup_free_ char *p = xasprintf("%s/etc/passwd", f->rootfs);
	_cleanup_free_ char *g = xasprintf("%s/etc/group", f->rootfs);
	_cleanup_free_ char *real = xasprintf("%s/etc/passwd.real", f->rootfs);
	unsigned uid, gid;
	struct err err = {0};

	assert_int_equal(rename(p, real), 0);
	assert_int_equal(symlink("/etc/passwd.real", p), 0);
	unlink(g);
	assert_int_equal(symlink("../../../../../../etc/group.none", g), 0);
	assert_int_equal(img_resolve_user(f->rootfs, "www", &uid, &gid, NULL, NULL, &err), 0);
	assert_int_equal(uid, 33);
	/* files outside the rootfs that the links would reach if followed on the host */
	write_file(f->dir, "evilgroup", "evil:x:4321:\n");
	write_file(f->dir, "evilpasswd", "evil:x:4321:4321::/:/bin/sh\n");
	unlink(g);
	assert_int_equal(symlink("../../evilgroup", g), 0);
	assert_int_equal(img_resolve_user(f->rootfs, "0:evil", &uid, &gid, NULL, NULL, &err),
			 -ENOENT);
	unlink(p);
	{
		_cleanup_free_ char *host = xasprintf("%s/evilpasswd", f->dir);
		assert_int_equal(symlink(host, p), 0); /* absolute: means rootfs + host */
	}
	assert_int_equal(img_resolve_user(f->rootfs, "evil", &uid, &gid, NULL, NULL, &err),
			 -ENOENT);
	/* a FIFO does not hang us */
	unlink(p);
	assert_int_equal(mkfifo(p, 0644), 0);
	assert_int_equal(img_resolve_user(f->rootfs, "root", &uid, &gid, NULL, NULL, &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "not a regular file"));
}

static struct img_config *config(const char *json)
{
	struct img_config *c = NULL;
	struct err err = {0};
	assert_int_equal(img_config_parse(json, strlen(json), &c, &err), 0);
	return c;
}

static json_t *oci_doc(void)
{
	return json_pack("{s:{s:b,s:{s:i,s:i,s:i},s:[s],s:[s],s:s}}", "process", "terminal", 1,
			 "user", "uid", 5, "gid", 5, "umask", 18, "args", "sh", "env", "OLD=1",
			 "cwd", "/x");
}

static char *args_of(json_t *oci, const char *key)
{
	json_t *a = json_object_get(json_object_get(oci, "process"), key), *v;
	size_t i;
	char *s = xstrdup("");

	json_array_foreach(a, i, v)
	{
		char *n = xasprintf("%s%s%s", s, i ? " " : "", json_string_value(v));
		free(s);
		s = n;
	}
	return s;
}

static const char image[] =
    "{\"config\":{\"User\":\"www\",\"Env\":[\"PATH=/img/bin\",\"A=1\",\"B=2\"],"
    "\"Entrypoint\":[\"/entry\",\"-x\"],\"Cmd\":[\"serve\"],\"WorkingDir\":\"/srv\","
    "\"ExposedPorts\":{\"80/tcp\":{},\"53/udp\":{}},\"Volumes\":{\"/data\":{},\"/logs\":{}},"
    "\"StopSignal\":\"SIGQUIT\",\"Labels\":{\"org.example\":\"yes\",\"keep\":\"image\"}},"
    "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}";

static void test_apply(void **state)
{
	struct fx *f = *state;
	struct img_config *c = config(image);
	json_t *oci = oci_doc(), *proc, *user, *ann;
	struct err err = {0};
	char *s;

	json_object_set_new(oci, "annotations", json_pack("{s:s}", "keep", "caller"));
	assert_int_equal(img_apply_config(c, f->rootfs, NULL, oci, &err), 0);
	proc = json_object_get(oci, "process");
	s = args_of(oci, "args");
	assert_string_equal(s, "/entry -x serve");
	free(s);
	s = args_of(oci, "env");
	assert_string_equal(s, "PATH=/img/bin A=1 B=2 TERM=xterm");
	free(s);
	assert_string_equal(json_string_value(json_object_get(proc, "cwd")), "/srv");
	user = json_object_get(proc, "user");
	assert_int_equal(json_integer_value(json_object_get(user, "uid")), 33);
	assert_int_equal(json_integer_value(json_object_get(user, "gid")), 34);
	assert_int_equal(json_integer_value(json_object_get(user, "umask")), 18); /* kept */
	assert_int_equal(
	    json_integer_value(json_array_get(json_object_get(user, "additionalGids"), 0)), 29);
	ann = json_object_get(oci, "annotations");
	assert_string_equal(json_string_value(json_object_get(ann, "org.example")), "yes");
	assert_string_equal(json_string_value(json_object_get(ann, "keep")), "caller");
	assert_string_equal(
	    json_string_value(json_object_get(ann, "org.opencontainers.image.stopSignal")),
	    "SIGQUIT");
	assert_string_equal(json_string_value(json_object_get(ann, "coop.image.exposedPorts")),
			    "80/tcp,53/udp");
	assert_string_equal(json_string_value(json_object_get(ann, "coop.image.volumes")),
			    "/data,/logs");
	json_decref(oci);
	img_config_free(c);
}

static void test_overrides(void **state)
{
	struct fx *f = *state;
	struct img_config *c = config(image);
	char *ep[] = {"/bin/sh", "-c", NULL}, *cmd[] = {"echo", "hi", NULL}, *none[] = {NULL};
	char *env[] = {"A=override", "C=3", NULL}, *bad_env[] = {"NOVALUE", NULL};
	struct img_overrides ov = {.entrypoint = ep};
	json_t *oci = oci_doc();
	struct err err = {0};
	char *s;

	/* a new entrypoint drops the image's Cmd */
	assert_int_equal(img_apply_config(c, f->rootfs, &ov, oci, &err), 0);
	s = args_of(oci, "args");
	assert_string_equal(s, "/bin/sh -c");
	free(s);
	/* ... unless a cmd is given too */
	ov.cmd = cmd;
	assert_int_equal(img_apply_config(c, f->rootfs, &ov, oci, &err), 0);
	s = args_of(oci, "args");
	assert_string_equal(s, "/bin/sh -c echo hi");
	free(s);
	/* cmd alone keeps the image's entrypoint */
	ov = (struct img_overrides){.cmd = cmd, .env = env, .user = "app:web", .workdir = "/w"};
	assert_int_equal(img_apply_config(c, f->rootfs, &ov, oci, &err), 0);
	s = args_of(oci, "args");
	assert_string_equal(s, "/entry -x echo hi");
	free(s);
	s = args_of(oci, "env");
	assert_string_equal(s, "PATH=/img/bin A=override B=2 C=3 TERM=xterm");
	free(s);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(oci, "process"), "cwd")), "/w");
	json_t *user = json_object_get(json_object_get(oci, "process"), "user");
	assert_int_equal(json_integer_value(json_object_get(user, "uid")), 1000);
	assert_int_equal(json_integer_value(json_object_get(user, "gid")), 34);
	assert_null(json_object_get(user, "additionalGids"));
	/* clearing the entrypoint with nothing to run */
	ov = (struct img_overrides){.entrypoint = none};
	assert_int_equal(img_apply_config(c, f->rootfs, &ov, oci, &err), -EINVAL);
	assert_string_equal(err.msg, "image has no command: give one");
	ov = (struct img_overrides){.env = bad_env};
	assert_int_equal(img_apply_config(c, f->rootfs, &ov, oci, &err), -EINVAL);
	ov = (struct img_overrides){.workdir = "relative"};
	assert_int_equal(img_apply_config(c, f->rootfs, &ov, oci, &err), -EINVAL);
	ov = (struct img_overrides){.user = "ghost"};
	assert_int_equal(img_apply_config(c, f->rootfs, &ov, oci, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "user 'ghost' not found"));
	json_decref(oci);
	img_config_free(c);
}

static void test_minimal_image(void **state)
{
	struct fx *f = *state;
	struct img_config *c =
	    config("{\"rootfs\":{\"diff_ids\":[]},\"config\":{\"Cmd\":[\"sh\"]}}");
	json_t *oci = json_object();
	struct err err = {0};
	char *s;

	assert_int_equal(img_apply_config(c, f->rootfs, NULL, oci, &err), 0);
	s = args_of(oci, "env");
	assert_string_equal(s, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	free(s);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(oci, "process"), "cwd")), "/");
	assert_null(json_object_get(json_object_get(oci, "annotations"), "coop.image.volumes"));
	json_decref(oci);
	img_config_free(c);

	c = config("{\"rootfs\":{\"diff_ids\":[]}}");
	oci = json_object();
	assert_int_equal(img_apply_config(c, f->rootfs, NULL, oci, &err), -EINVAL);
	assert_string_equal(err.msg, "image has no command: give one");
	json_decref(oci);
	img_config_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_users, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_passwd, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_symlinks_stay_inside, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_apply, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_overrides, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_minimal_image, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
