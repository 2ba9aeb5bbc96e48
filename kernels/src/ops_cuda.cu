// The CUDA side of kernels/ops.h: the kernels live in cuda/*.cu (one file per op family); this file only says that
// they are built in.
#include "ops_impl.h"

namespace kernels::detail {

bool cuda_built() noexcept { return true; }

}  // namespace kernels::detail
