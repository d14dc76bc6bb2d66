/* Unit tests for image/ref and image/digest: a table of references, valid and invalid,
 * normalized the way Docker does (docker.io, library/, latest, registry hosts), the
 * string forms, and digest validation and hashing. Pure: nothing touches the system. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"
#include "image/digest.h"
#include "image/ref.h"

#define D "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define HEX "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static const struct {
	const char *in;
	const char *full;     /* img_ref_string, NULL = invalid */
	const char *familiar; /* img_ref_familiar, or the error substring when invalid */
} cases[] = {
    {"busybox", "docker.io/library/busybox:latest", "busybox:latest"},
    {"busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"},
    {"library/busybox", "docker.io/library/busybox:latest", "busybox:latest"},
    {"docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"},
    {"index.docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"},
    {"index.docker.io/org/app:v1", "docker.io/org/app:v1", "org/app:v1"},
    {"org/app", "docker.io/org/app:latest", "org/app:latest"},
    {"org/team/app:x", "docker.io/org/team/app:x", "org/team/app:x"},
    {"ghcr.io/org/app:1.2", "ghcr.io/org/app:1.2", "ghcr.io/org/app:1.2"},
    {"localhost/app", "localhost/app:latest", "localhost/app:latest"},
    {"localhost:5000/app", "localhost:5000/app:latest", "localhost:5000/app:latest"},
    {"127.0.0.1:5000/x/y:t", "127.0.0.1:5000/x/y:t", "127.0.0.1:5000/x/y:t"},
    {"[::1]:5000/app", "[::1]:5000/app:latest", "[::1]:5000/app:latest"},
    {"host:5000/x@" D, "host:5000/x@" D, "host:5000/x@" D},
    {"busybox@" D, "docker.io/library/busybox@" D, "busybox@" D},
    {"busybox:1@" D, "docker.io/library/busybox:1@" D, "busybox:1@" D},
    {"a.b-c/d__e---f/g.h", "a.b-c/d__e---f/g.h:latest", "a.b-c/d__e---f/g.h:latest"},
    {"a_b.io/x", NULL, "invalid registry"},
    {"my-app_x__y.z", "docker.io/library/my-app_x__y.z:latest", "my-app_x__y.z:latest"},
    {"app:V1.0-rc_2", "docker.io/library/app:V1.0-rc_2", "app:V1.0-rc_2"},
    {"app:_x", "docker.io/library/app:_x", "app:_x"},
    {"localhost:5000", "docker.io/library/localhost:5000", "localhost:5000"},
    {"Registry.Example.COM/app", "Registry.Example.COM/app:latest",
     "Registry.Example.COM/app:latest"},
    {"docker.io/library/busybox:latest", "docker.io/library/busybox:latest", "busybox:latest"},
    {"docker.io/a.b/c", "docker.io/a.b/c:latest", "docker.io/a.b/c:latest"},
    {"docker.io/localhost/c", "docker.io/localhost/c:latest", "docker.io/localhost/c:latest"},
    /* invalid */
    {"", NULL, "empty"},
    {"Foo", NULL, "repository name must be lowercase"},
    {"org/Foo", NULL, "repository name must be lowercase"},
    {"ghcr.io/Org/app", NULL, "repository name must be lowercase"},
    {"app:", NULL, "invalid tag"},
    {"app:.x", NULL, "invalid tag"},
    {"app:-x", NULL, "invalid tag"},
    {"app:a/b", NULL, "invalid registry 'app:a'"},
    {"app@sha256:abc", NULL, "64 hex"},
    {"app@md5:" HEX, NULL, "unsupported algorithm"},
    {"app@sha256:"
     "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
     NULL, "lowercase"},
    {"app@", NULL, "empty"},
    {"-app", NULL, "invalid repository name component"},
    {"app-", NULL, "invalid repository name component"},
    {"a..b", NULL, "invalid repository name component"},
    {"a___b", NULL, "invalid repository name component"},
    {"org//app", NULL, "empty path component"},
    {"/app", NULL, "empty path component"},
    {"app/", NULL, "empty path component"},
    {"ex ample/app", NULL, "invalid repository name component"},
    {"-host.io/app", NULL, "invalid registry"},
    {"host.io:port/app", NULL, "invalid registry"},
    {"host.io:/app", NULL, "invalid registry"},
    {HEX, NULL, "image ID"},
    {":tag", NULL, "empty repository name"},
    {"app:tag:tag", NULL, "invalid repository name component 'app:tag'"},
};

static void test_table(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct img_ref r = {0};
		struct err err = {0};
		int rc = img_ref_parse(cases[i].in, &r, &err);

		print_message("%s\n", cases[i].in);
		if (!cases[i].full) {
			print_message("  -> %s\n", err.msg);
			assert_int_equal(rc, -EINVAL);
			assert_non_null(strstr(err.msg, cases[i].familiar));
			assert_non_null(strstr(err.msg, "invalid reference '"));
			continue;
		}
		if (rc < 0)
			print_message("%s\n", err.msg);
		assert_int_equal(rc, 0);
		char *full = img_ref_string(&r), *fam = img_ref_familiar(&r);
		assert_string_equal(full, cases[i].full);
		assert_string_equal(fam, cases[i].familiar);
		free(full);
		free(fam);
		img_ref_free(&r);
	}
}

static void test_fields(void **state)
{
	struct img_ref r = {0};
	struct err err = {0};
	char *repo;

	assert_int_equal(img_ref_parse("busybox@" D, &r, &err), 0);
	assert_string_equal(r.domain, "docker.io");
	assert_string_equal(r.path, "library/busybox");
	assert_null(r.tag); /* no "latest" with a digest */
	assert_string_equal(r.digest, D);
	assert_string_equal(img_ref_registry_host(&r), "registry-1.docker.io");
	repo = img_ref_repo(&r);
	assert_string_equal(repo, "docker.io/library/busybox");
	free(repo);
	img_ref_free(&r);

	assert_int_equal(img_ref_parse("127.0.0.1:5000/a/b:c", &r, &err), 0);
	assert_string_equal(r.domain, "127.0.0.1:5000");
	assert_string_equal(r.path, "a/b");
	assert_string_equal(r.tag, "c");
	assert_null(r.digest);
	assert_string_equal(img_ref_registry_host(&r), "127.0.0.1:5000");
	img_ref_free(&r);
}

static void test_exact_message(void **state)
{
	struct img_ref r = {0};
	struct err err = {0};

	assert_int_equal(img_ref_parse("Foo", &r, &err), -EINVAL);
	assert_string_equal(err.msg, "invalid reference 'Foo': repository name must be lowercase");
}

static void test_limits(void **state)
{
	char name[300], tag[200];
	struct img_ref r = {0};
	struct err err = {0};

	/* a 255-character name is fine, 256 is not */
	memset(name, 'a', sizeof(name));
	memcpy(name, "h.io/", 5);
	name[255] = '\0';
	assert_int_equal(img_ref_parse(name, &r, &err), 0);
	img_ref_free(&r);
	name[255] = 'a';
	name[256] = '\0';
	assert_int_equal(img_ref_parse(name, &r, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "longer than 255"));

	/* tags up to 128 characters */
	strcpy(tag, "app:");
	memset(tag + 4, 't', 128);
	tag[4 + 128] = '\0';
	assert_int_equal(img_ref_parse(tag, &r, &err), 0);
	img_ref_free(&r);
	strcat(tag, "t");
	assert_int_equal(img_ref_parse(tag, &r, &err), -EINVAL);
	assert_null(r.domain);
}

static void test_digest(void **state)
{
	char out[IMG_DIGEST_LEN + 1];
	struct err err = {0};
	char tmpl[] = "/tmp/coop-digest-XXXXXX";
	int fd;
	struct img_hasher *h;

	img_digest_buf("", 0, out);
	assert_string_equal(out, D);
	assert_string_equal(img_digest_hex(D), HEX);
	assert_int_equal(img_digest_validate(D, &err), 0);
	assert_int_equal(img_digest_validate("sha256:" HEX "0", &err), -EINVAL);
	assert_int_equal(img_digest_validate("sha512:" HEX, &err), -EINVAL);
	assert_int_equal(img_digest_validate("", &err), -EINVAL);
	assert_int_equal(img_digest_validate(HEX, &err), -EINVAL);

	/* streaming equals one-shot: sha256("abc") */
	h = img_hasher_new();
	img_hasher_update(h, "a", 1);
	img_hasher_update(h, "bc", 2);
	img_hasher_final(h, out);
	assert_string_equal(
	    out, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	img_hasher_free(img_hasher_new());

	/* the whole file, whatever the fd's position */
	fd = mkstemp(tmpl);
	assert_true(fd >= 0);
	unlink(tmpl);
	assert_int_equal(write(fd, "abc", 3), 3);
	assert_int_equal(img_digest_file(fd, out, &err), 0);
	assert_string_equal(
	    out, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 3);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),	  cmocka_unit_test(test_fields),
	    cmocka_unit_test(test_exact_message), cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_digest),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
