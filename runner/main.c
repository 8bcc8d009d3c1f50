/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "config.h"

int main(int argc, char **argv) {
        if (argc > 1 && strcmp(argv[1], "--version") == 0) {
                printf("tfrun %s\n", TF_VERSION);
                return 0;
        }
        fprintf(stderr, "tfrun: not yet\n");
        return 125;
}
