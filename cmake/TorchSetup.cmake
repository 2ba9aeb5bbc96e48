# Finds LibTorch, checks the version window and ABI, and picks the C++ standard.
# CPU build: Debian's libtorch-dev 1.13 (found by default).
# GPU build: pip torch >= 2.7, -DCMAKE_PREFIX_PATH=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)').
find_package(Torch REQUIRED)

if(Torch_VERSION VERSION_LESS 1.13)
    message(FATAL_ERROR "LibTorch ${Torch_VERSION} is too old; Kinora needs 1.13 or newer")
endif()
message(STATUS "LibTorch ${Torch_VERSION} at ${TORCH_INSTALL_PREFIX}")

if(TORCH_CXX_FLAGS MATCHES "_GLIBCXX_USE_CXX11_ABI=0")
    message(FATAL_ERROR "This LibTorch uses the pre-C++11 ABI (pip wheels before 2.7 do); Qt and Catch2 use the "
                        "C++11 ABI and std types cross the engine API. Use torch >= 2.7 or Debian's libtorch-dev.")
endif()

if(Torch_VERSION VERSION_GREATER_EQUAL 2.13)
    set(KINORA_CXX_STANDARD 20)
else()
    set(KINORA_CXX_STANDARD 17)
endif()
set(CMAKE_CXX_STANDARD ${KINORA_CXX_STANDARD})
set(CMAKE_CXX_STANDARD_REQUIRED ON)
set(CMAKE_CXX_EXTENSIONS OFF)
set(CMAKE_CUDA_STANDARD ${KINORA_CXX_STANDARD})

if(TORCH_CUDA_LIBRARIES)
    set(KINORA_TORCH_HAS_CUDA ON)
else()
    set(KINORA_TORCH_HAS_CUDA OFF)
endif()
if(KINORA_ENABLE_CUDA AND NOT KINORA_TORCH_HAS_CUDA)
    message(FATAL_ERROR "KINORA_ENABLE_CUDA is ON but this libtorch is CPU-only (Debian's libtorch-dev is); "
                        "use the gpu-pip preset")
endif()

# torch's own target carries its include dirs and ABI define; we link ${TORCH_LIBRARIES} everywhere.

# pip wheels' libtorch.so and libtorch_cpu.so export their own copies of libstdc++'s std::filesystem functions (linked
# in statically when the wheel was built). Where a reference to one is first met on the link line decides which copy
# a call runs, and theirs is broken: remove_all jumps to address 0 (torch 2.11: SIGSEGV). So libstdc++ comes right
# before torch wherever torch is linked: with a shared libstdc++ it is then ahead of libtorch in the dynamic linker's
# lookup order; with a static one (a GCC whose libstdc++ is linked in statically), the references of everything
# before it are bound to its own members. With Debian's libtorch it changes nothing.
# KINORA_STDCXX_BEFORE_TORCH tells tests/CMakeLists.txt that the rule applies (its link-order checks).
set(KINORA_STDCXX_BEFORE_TORCH OFF)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_SYSTEM_NAME STREQUAL "Linux")
    set(KINORA_STDCXX_BEFORE_TORCH ON)
    list(PREPEND TORCH_LIBRARIES "-lstdc++")
endif()
