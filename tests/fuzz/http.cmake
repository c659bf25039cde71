# fuzz_http: the server's HTTP/1.1 request parser on arbitrary bytes, in arbitrary splits.
add_executable(fuzz_http ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_http.cpp
  ${PROJECT_SOURCE_DIR}/tools/qwen-server/http/request_parser.cpp ${PROJECT_SOURCE_DIR}/tools/qwen-server/http/message.cpp)
target_include_directories(fuzz_http PRIVATE ${PROJECT_SOURCE_DIR}/tools)
target_link_options(fuzz_http PRIVATE -fsanitize=fuzzer)
