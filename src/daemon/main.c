/*
 * stickyd: run a sticky application built as a module.
 *
 *   stickyd -m /path/to/app.so [sticky flags...]
 *
 * The module defines its app with STICKY_MODULE(); everything after -m is
 * handled by sticky_main() (config file, flags, signals).
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include <sticky/sticky.h>

int
main(int argc, char *argv[])
{
	const struct sticky_app_def *(*get)(void);
	const char *module = NULL;
	char *args[256];
	int n = 0;
	void *h;

	if (argc >= (int)(sizeof(args) / sizeof(args[0]))) {
		fprintf(stderr, "stickyd: too many arguments\n");
		return 2;
	}
	/* Take -m MODULE out; pass the rest on. */
	for (int i = 0; i < argc; i++) {
		if ((strcmp(argv[i], "-m") == 0 || strcmp(argv[i], "--module") == 0) &&
		    i + 1 < argc) {
			module = argv[++i];
			continue;
		}
		args[n++] = argv[i];
	}
	args[n] = NULL;
	if (module == NULL) {
		fprintf(stderr, "usage: stickyd -m MODULE.so [-c FILE] [flags]\n"
		    "       (see stickyd(8); -h lists the flags)\n");
		return 2;
	}
	if ((h = dlopen(module, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		fprintf(stderr, "stickyd: %s\n", dlerror());
		return 1;
	}
	*(void **)&get = dlsym(h, STICKY_MODULE_SYMBOL);
	if (get == NULL) {
		fprintf(stderr, "stickyd: %s: no %s(): build it with "
		    "STICKY_MODULE()\n", module, STICKY_MODULE_SYMBOL);
		dlclose(h);
		return 1;
	}
	return sticky_main(n, args, get());
}
