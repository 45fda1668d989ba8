// Embeds a compiled model in a C program: the MLP of examples/mlp.kiln, built with
//   kiln build examples/mlp.kiln --emit=lib -o mlp.a      (writes mlp.a and mlp.h)
//   cc -I. main.c mlp.a -lstdc++ -lfmt -lpthread -lm -o embed
// Fills the input and the parameters with fixed values, calls mlp_forward and prints the 32x10
// class scores, one "row column score" line each (test/cpu/embed.test checks them against the
// reference interpreter).
#include <stdio.h>

#include "mlp.h"

// values[i] = ((i * multiplier) % modulus - modulus / 2) / scale: small values that a float holds
// exactly, so that any other program can build the same arguments.
static void fill(float *values, int count, int multiplier, int modulus, float scale) {
  for (int i = 0; i < count; ++i) values[i] = (float)((i * multiplier) % modulus - modulus / 2) / scale;
}

int main(void) {
  static float x[32 * 64], hidden_w[64 * 128], hidden_b[128], output_w[128 * 10], output_b[10];
  static float scores[32 * 10];
  fill(x, 32 * 64, 7, 23, 16.0f);
  fill(hidden_w, 64 * 128, 5, 19, 64.0f);
  fill(hidden_b, 128, 1, 5, 8.0f);
  fill(output_w, 128 * 10, 3, 17, 64.0f);
  fill(output_b, 10, 1, 5, 8.0f);
  mlp_forward(x, hidden_w, hidden_b, output_w, output_b, scores);
  for (int row = 0; row < 32; ++row)
    for (int column = 0; column < 10; ++column) printf("%d %d %.9g\n", row, column, scores[row * 10 + column]);
  return 0;
}
