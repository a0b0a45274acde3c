/* hyplora: the public C API. Include this one header; link with `pkg-config --libs hyplora`.
 *
 * Conventions: every function that can fail takes `hp_err *err` last and returns -1
 * (or NULL) with a message naming the file, field and expectation. Nothing in the
 * library prints, aborts or exits. */
#ifndef HYPLORA_H
#define HYPLORA_H

#include "hyplora/config.h"
#include "hyplora/corpus.h"
#include "hyplora/delta.h"
#include "hyplora/delta_prompts.h"
#include "hyplora/lorentz.h"
#include "hyplora/adapter.h"
#include "hyplora/answer.h"
#include "hyplora/backward.h"
#include "hyplora/blas.h"
#include "hyplora/optim.h"
#include "hyplora/adapter_set.h"
#include "hyplora/train_step.h"
#include "hyplora/dtype.h"
#include "hyplora/error.h"
#include "hyplora/file.h"
#include "hyplora/forward.h"
#include "hyplora/instruct.h"
#include "hyplora/freq.h"
#include "hyplora/gguf.h"
#include "hyplora/graph.h"
#include "hyplora/json_stream.h"
#include "hyplora/model.h"
#include "hyplora/norms.h"
#include "hyplora/npy.h"
#include "hyplora/pca.h"
#include "hyplora/powerlaw.h"
#include "hyplora/progress.h"
#include "hyplora/report.h"
#include "hyplora/rng.h"
#include "hyplora/safetensors.h"
#include "hyplora/sha256.h"
#include "hyplora/stats.h"
#include "hyplora/tensor.h"
#include "hyplora/tokenizer.h"
#include "hyplora/vectors.h"
#include "hyplora/zeta.h"

#endif
