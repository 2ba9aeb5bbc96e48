# CUDA for our kernels (KINORA_ENABLE_CUDA=ON only). Included after TorchSetup.
#
# Architectures: the CUDA build of LibTorch's CMake config (Caffe2/public/cuda.cmake) runs
#   set(CMAKE_CUDA_ARCHITECTURES OFF)
# in our top-level scope and puts its own -gencode flags (from TORCH_CUDA_ARCH_LIST, or a probe of the GPU present)
# into CUDA_NVCC_FLAGS, which only FindCUDA's cuda_add_library reads. Left alone, our .cu files would get no
# architecture at all (nvcc's default, JIT-compiled at start-up). So the architectures are our own cache variable,
# KINORA_CUDA_ARCHITECTURES, set on the kernels target as its CUDA_ARCHITECTURES property, which nothing of torch's
# overrides. The gpu-pip preset sets it to 90 (H100/H200: sm_90 SASS + compute_90 PTX) and TORCH_CUDA_ARCH_LIST=9.0
# (so torch's config neither probes the GPU nor warns). Check a build with
#   cuobjdump --list-elf build/gpu-pip/kernels/libkernels.a      (expect sm_90 entries)
set(KINORA_CUDA_ARCHITECTURES "80;86;89;90" CACHE STRING "CUDA architectures of our kernels (CMake CUDA_ARCHITECTURES syntax)")
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES OR NOT CMAKE_CUDA_ARCHITECTURES)
    # enable_language(CUDA) needs a value; the kernels target sets its own below.
    set(CMAKE_CUDA_ARCHITECTURES ${KINORA_CUDA_ARCHITECTURES})
endif()
# The shared CUDA runtime (libcudart.so, the one LibTorch loads) for every target that links our CUDA code. CMake's
# default, the static runtime, is linked into the executables that consume the kernels library and would put a second
# runtime into the process beside torch's.
set(CMAKE_CUDA_RUNTIME_LIBRARY Shared)
enable_language(CUDA)
find_package(CUDAToolkit REQUIRED)
if(KINORA_TORCH_CUDA_VERSION)
    string(REGEX MATCH "^[0-9]+" _torch_cuda_major "${KINORA_TORCH_CUDA_VERSION}")
    if(NOT _torch_cuda_major STREQUAL CUDAToolkit_VERSION_MAJOR)
        message(WARNING "nvcc is CUDA ${CUDAToolkit_VERSION} but LibTorch was built for CUDA ${KINORA_TORCH_CUDA_VERSION}")
    endif()
endif()
message(STATUS "CUDA ${CUDAToolkit_VERSION}, kernels built for architectures ${KINORA_CUDA_ARCHITECTURES}")
