# Runs qwen-tokenize on tokenizer.json and on a GGUF file and checks its output and exit codes.
# Variables: TOOL, JSON, GGUF, WORK.
file(MAKE_DIRECTORY ${WORK})
file(WRITE ${WORK}/in.txt "Hello world <|im_end|> 你好😀")
file(WRITE ${WORK}/ids.txt "9707 1879 220 151645\n")
file(WRITE ${WORK}/bad_ids.txt "9707 x\n")
file(WRITE ${WORK}/chat.json [=[{"messages": [{"role": "user", "content": "hi"}], "add_generation_prompt": true}]=])

function(expect name expected_rc expected_out)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL expected_rc)
    message(FATAL_ERROR "${name}: exit status ${rc}, expected ${expected_rc}\n${err}")
  endif()
  if(NOT "${expected_out}" STREQUAL "*" AND NOT out STREQUAL expected_out)
    message(FATAL_ERROR "${name}: output\n[${out}]\nexpected\n[${expected_out}]")
  endif()
endfunction()

foreach(vocab ${JSON} ${GGUF})
  expect("encode ${vocab}" 0 "9707 1879 82639 318 6213 91 29 220 108386 141334\n"
         ${TOOL} --vocab ${vocab} INPUT_FILE ${WORK}/in.txt)
  expect("encode --parse-special ${vocab}" 0 "9707 1879 220 151645 220 108386 141334\n"
         ${TOOL} --vocab ${vocab} --parse-special INPUT_FILE ${WORK}/in.txt)
  expect("decode ${vocab}" 0 "Hello world <|im_end|>" ${TOOL} --vocab ${vocab} --decode INPUT_FILE ${WORK}/ids.txt)
  expect("decode --skip-special ${vocab}" 0 "Hello world " ${TOOL} --vocab ${vocab} --decode --skip-special
         INPUT_FILE ${WORK}/ids.txt)
  expect("bad ids ${vocab}" 1 "" ${TOOL} --vocab ${vocab} --decode INPUT_FILE ${WORK}/bad_ids.txt)
  expect("chat ids ${vocab}" 0
         "151644 8948 198 2610 525 1207 16948 11 3465 553 54364 14817 13 1446 525 264 10950 17847 13 151645 198 151644 872 198 6023 151645 198 151644 77091 198\n"
         ${TOOL} --vocab ${vocab} --chat ${WORK}/chat.json --ids)
endforeach()
expect("help" 0 "*" ${TOOL} --help)
expect("no vocab" 2 "" ${TOOL})
expect("unknown option" 2 "" ${TOOL} --vocab ${JSON} --frobnicate)
expect("missing file" 1 "" ${TOOL} --vocab ${WORK}/missing.gguf)
