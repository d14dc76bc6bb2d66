/* net: networking for agent containers. Not integrated yet: net/attach.h is being
 * written; until then a container keeps its own namespace with only lo, and health
 * checks reach it from inside that namespace (see health.c). */
#include "agent/net.h"

int ag_net_attach(const char *net_dir, const char *dir, const char *id, json_t *rec,
		  const char *netns, struct err *err)
{
	return 0;
}

int ag_net_detach(const char *net_dir, const char *dir, const char *id, struct err *err)
{
	return 0;
}
