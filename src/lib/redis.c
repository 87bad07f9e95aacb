/* redis.c: placeholder */
