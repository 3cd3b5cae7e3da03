/* Test vectors: inputs and the golden reference's outputs (generated test_vectors.c). */
#ifndef EDGEQ_TEST_VECTORS_H
#define EDGEQ_TEST_VECTORS_H

#include "model.h"

extern const int edgeq_test_samples;
extern const edgeq_input_t edgeq_test_inputs[][EDGEQ_INPUT_SIZE];
extern const edgeq_output_t edgeq_test_expected[][EDGEQ_OUTPUT_SIZE];

#endif
