/* store.h: placeholder */
