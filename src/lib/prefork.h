/* prefork.h: placeholder */
