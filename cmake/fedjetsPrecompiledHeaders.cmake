# Precompiled <torch/torch.h> for the libraries whose units include
# LibTorch (docs/OPERATIONS.md, "Time to first round"). fedjets_learn
# compiles the header once (36 s of CPU); the coordinator and client
# libraries reuse that file, which needs their compile flags to match
# fedjets_learn's (GCC ignores a mismatching precompiled header, with a
# -Winvalid-pch warning, and parses the header instead). Measured per unit:
# 8-13 s saved (fedjets_learn 22 -> 14 s, a coordinator unit 56 -> 43 s).
# A target's every unit loads the header, so targets whose units do not
# need LibTorch stay out: the binaries' main units (fedjets-client's
# compiles in 19 s alone, 39 s with the header forced in) and the
# torch-free libraries (base, net, data, report, sim, certs), which keep
# building without LibTorch's headers.
option(FEDJETS_PRECOMPILE_HEADERS
  "Precompile <torch/torch.h> for the LibTorch-heavy targets" ON)
if(NOT FEDJETS_PRECOMPILE_HEADERS)
  return()
endif()

set(fedjets_pch_users fedjets_coordinator fedjets_client)
target_precompile_headers(fedjets_learn PRIVATE <torch/torch.h>)
foreach(target IN LISTS fedjets_pch_users)
  target_precompile_headers(${target} REUSE_FROM fedjets_learn)
endforeach()

# ccache caches a unit built with a precompiled header only with sloppiness
# pch_defines,time_macros (ccache manual, "Precompiled headers"); without it
# every such unit is a miss. Added through the launcher's environment, for
# these targets alone, to whatever sloppiness ccache is configured with.
get_target_property(launcher fedjets_learn CXX_COMPILER_LAUNCHER)
if(launcher MATCHES "ccache")
  execute_process(COMMAND ${launcher} --get-config sloppiness
    OUTPUT_VARIABLE sloppiness OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  string(REPLACE " " "" sloppiness "${sloppiness}")
  string(REPLACE "," ";" sloppiness "${sloppiness}")
  list(APPEND sloppiness pch_defines time_macros)
  list(REMOVE_DUPLICATES sloppiness)
  list(JOIN sloppiness "," sloppiness)
  set_property(TARGET fedjets_learn ${fedjets_pch_users}
    PROPERTY CXX_COMPILER_LAUNCHER
    ${CMAKE_COMMAND} -E env CCACHE_SLOPPINESS=${sloppiness} ${launcher})
endif()
