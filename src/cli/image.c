/* image: placeholder until the image CLI lands. */
#include <stdio.h>

#include "cli/image.h"

int image_cli_main(int argc, char **argv)
{
	fprintf(stderr, "coop image: not built yet\n");
	return 2;
}
