/*
 * sim.h -- what the agent simulator's verbs share: the clock and the way
 * out (sim.c), and each verb's entry point, which main() picks by argv[1].
 */
#ifndef AGENTSIM_H
#define AGENTSIM_H

/* sim.c: CLOCK_REALTIME in microseconds; die() prints what and OpenSSL's error, exits 1 */
extern long long now_us(void);
extern void die(const char *what);

/* each takes main()'s argc and argv and returns the exit status */
extern int cmd_gen(int argc, char **argv);    /* sim_gen.c */
extern int cmd_run(int argc, char **argv);    /* sim_run.c */
extern int cmd_listen(int argc, char **argv); /* sim_listen.c */

#endif /* AGENTSIM_H */
