/* image: `coop image pull|ls|inspect|rm|tag|import|save|prune`. */
#ifndef COOP_CLI_IMAGE_H
#define COOP_CLI_IMAGE_H

/* argv[0] is "image". Returns the exit status. */
int image_cli_main(int argc, char **argv);

#endif
