/* libFuzzer target: the state machine. The input is one or more commands, one per line,
 * applied to a small cluster state (3 nodes, a workload with placed tasks, a VPC with a
 * lease, a token). Each line is validated and then applied whatever validation said —
 * apply must cope with anything a log could hold — and after each apply the model's
 * invariants must hold. At the end the state must survive a snapshot round trip byte
 * for byte. An input starting with 'S' is fed to the snapshot reader instead. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "state/fsm.h"
#include "state/model.h"
#include "state/snapshot.h"

static const char *const setup[] = {
    "{\"op\":\"node.register\",\"name\":\"n0\",\"address\":\"10.0.0.1\",\"role\":\"server\","
    "\"capacity\":{\"cpu_milli\":2000,\"memory\":1073741824},\"labels\":{\"zone\":\"a\"}}",
    "{\"op\":\"node.register\",\"name\":\"n1\",\"address\":\"10.0.0.2\",\"role\":\"agent\"}",
    "{\"op\":\"node.register\",\"name\":\"n2\",\"address\":\"10.0.0.3\",\"role\":\"agent\"}",
    "{\"op\":\"vpc.create\",\"name\":\"v\",\"cidr\":\"10.9.0.0/24\",\"node_prefix\":26}",
    "{\"op\":\"lease.subnet\",\"vpc\":\"v\",\"node\":\"n1\"}",
    "{\"op\":\"workload.put\",\"id\":\"w\",\"name\":\"web\",\"spec\":{\"name\":\"web\",\"vpc\":"
    "\"v\",\"replicas\":{\"min\":2},\"resources\":{\"cpus\":0.5,\"memory_limit\":1048576}}}",
    "{\"op\":\"task.place\",\"placements\":[{\"workload\":\"web\",\"replica\":0,\"node\":\"n0\"},"
    "{\"workload\":\"web\",\"replica\":1,\"node\":\"n1\"}]}",
    "{\"op\":\"task.status\",\"reports\":[{\"task\":\"web.1\",\"generation\":1,\"node\":\"n1\","
    "\"state\":\"running\",\"ip\":\"10.9.0.66\"}]}",
    "{\"op\":\"token.put\",\"name\":\"t\",\"role\":\"agent\",\"salt\":\"0011223344556677\","
    "\"hash\":\"00112233445566778899aabbccddeeff\"}",
};

static void check(struct model *m)
{
	struct err err = {0};

	if (model_check(m, &err) < 0) {
		fprintf(stderr, "invariant broken: %s\n", err.msg);
		abort();
	}
}

static void roundtrip(struct model *m)
{
	struct err err = {0};
	struct model *back = NULL;
	char *a, *b;
	size_t la, lb;

	if (snapshot_encode(m, &a, &la, &err) < 0 || snapshot_decode(a, la, &back, &err) < 0) {
		fprintf(stderr, "snapshot round trip: %s\n", err.msg);
		abort();
	}
	if (snapshot_encode(back, &b, &lb, &err) < 0 || la != lb || memcmp(a, b, la))
		abort();
	free(a);
	free(b);
	model_free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct model *m;
	struct fsm_result res;
	struct err err = {0};
	uint64_t index = 1;

	if (size && data[0] == 'S') {
		if (snapshot_decode(data + 1, size - 1, &m, &err) == 0) {
			check(m);
			model_free(m);
		} else if (!err.msg[0]) {
			abort();
		}
		return 0;
	}
	m = model_new();
	for (size_t i = 0; i < sizeof(setup) / sizeof(*setup); i++) {
		fsm_apply_buf(m, setup[i], strlen(setup[i]), index++, &res);
		if (res.code)
			abort();
	}
	for (size_t off = 0; off < size;) {
		const uint8_t *nl = memchr(data + off, '\n', size - off);
		size_t len = nl ? (size_t)(nl - (data + off)) : size - off;
		json_t *cmd = NULL;

		if (fsm_decode(data + off, len, &cmd, &err) == 0) {
			if (fsm_validate(m, cmd, &err) < 0 &&
			    (!err.msg[0] || strchr(err.msg, '\n')))
				abort();
			json_decref(cmd);
		}
		fsm_apply_buf(m, data + off, len, index++, &res);
		check(m);
		off += len + 1;
	}
	roundtrip(m);
	model_free(m);
	return 0;
}
