add_executable(fuzz_gguf ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_gguf.cpp)
target_link_libraries(fuzz_gguf PRIVATE qwenedge)
target_include_directories(fuzz_gguf PRIVATE ${PROJECT_SOURCE_DIR})
target_link_options(fuzz_gguf PRIVATE -fsanitize=fuzzer)
