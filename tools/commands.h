/* The subcommands of the `fp8block` CLI, one file each (tools/cmd_<name>.c).
 * Each gets argv from its own name on and returns the process exit status. */
#ifndef FP8BLOCK_COMMANDS_H
#define FP8BLOCK_COMMANDS_H

int cmd_run(int argc, char **argv);         /* tools/cmd_run.c: the end-to-end pipeline */
int cmd_bench(int argc, char **argv);       /* tools/cmd_bench.c: GEMM sweep vs cuBLASLt */
int cmd_accuracy(int argc, char **argv);    /* tools/cmd_accuracy.c: block vs per-tensor FP8 */
int cmd_bench_quant(int argc, char **argv); /* tools/cmd_bench_quant.c: quantize GB/s vs copy */

#endif
