/* conffile.c: placeholder */
