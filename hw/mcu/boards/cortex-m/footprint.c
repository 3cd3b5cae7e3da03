/* The model alone: what it costs in flash and RAM on the target (`make size`). */
#include "model.h"

static edgeq_input_t input[EDGEQ_INPUT_SIZE];
static edgeq_output_t output[EDGEQ_OUTPUT_SIZE];

int main(void)
{
    edgeq_model_run(input, output);
    return (int)output[0];
}
