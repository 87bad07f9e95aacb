/* checkpoint.h: placeholder */
