// qwenedge — the one header an application includes.
#pragma once

#include "qwenedge/convert.hpp"
#include "qwenedge/error.hpp"
#include "qwenedge/generation.hpp"
#include "qwenedge/inspect.hpp"
#include "qwenedge/model.hpp"
#include "qwenedge/session.hpp"
#include "qwenedge/step.hpp"
#include "qwenedge/tokenizer.hpp"
