# What `cmake --install` puts under a prefix for C and C++ programs: the header, both
# libraries, a CMake package (find_package(fp8block) -> fp8block::fp8block, and
# fp8block::fp8block_static where its dependencies are found) and fp8block.pc.
# A wheel build (scikit-build-core sets SKBUILD) installs the shared library alone, into
# the Python package, under the name the ctypes loader looks for.
if(SKBUILD)
  install(FILES $<TARGET_FILE:fp8block> DESTINATION fp8block RENAME libfp8block.so COMPONENT python)
  return()
endif()

include(CMakePackageConfigHelpers)
set(FP8BLOCK_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/fp8block)

install(FILES ${PROJECT_SOURCE_DIR}/include/fp8block.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS fp8block EXPORT fp8blockTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
# A separate export set: the static library's link dependencies (threads, the static CUDA
# runtime, and libstdc++ for the CUDA objects) must be found by the consumer; the shared
# library's need not.
install(TARGETS fp8block_static EXPORT fp8blockStaticTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(EXPORT fp8blockTargets NAMESPACE fp8block:: DESTINATION ${FP8BLOCK_CMAKE_DIR})
install(EXPORT fp8blockStaticTargets NAMESPACE fp8block:: DESTINATION ${FP8BLOCK_CMAKE_DIR})

configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/fp8blockConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/fp8blockConfig.cmake INSTALL_DESTINATION ${FP8BLOCK_CMAKE_DIR})
# The ABI rule: a 0.x release is compatible only with the same minor version.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(FP8BLOCK_COMPATIBILITY SameMinorVersion)
else()
  set(FP8BLOCK_COMPATIBILITY SameMajorVersion)
endif()
write_basic_package_version_file(${PROJECT_BINARY_DIR}/fp8blockConfigVersion.cmake
                                 COMPATIBILITY ${FP8BLOCK_COMPATIBILITY})
install(FILES ${PROJECT_BINARY_DIR}/fp8blockConfig.cmake ${PROJECT_BINARY_DIR}/fp8blockConfigVersion.cmake
        DESTINATION ${FP8BLOCK_CMAKE_DIR})

# pkg-config: the prefix is found from the .pc file's own place, so an installed tree can
# be moved. Libs.private is what `pkg-config --static` adds for libfp8block.a.
file(RELATIVE_PATH FP8BLOCK_PC_TO_PREFIX ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
set(FP8BLOCK_PC_LIBS_PRIVATE "-lm -pthread")
if(FP8BLOCK_HAVE_CUDA)
  string(APPEND FP8BLOCK_PC_LIBS_PRIVATE " -L${CUDAToolkit_LIBRARY_DIR} -lcudart_static -ldl -lrt -lstdc++")
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/fp8block.pc.in ${PROJECT_BINARY_DIR}/fp8block.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/fp8block.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
