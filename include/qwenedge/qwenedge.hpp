// qwenedge — the one header an application includes.
#pragma once

#include "qwenedge/convert.hpp"
#include "qwenedge/error.hpp"
#include "qwenedge/inspect.hpp"
#include "qwenedge/model.hpp"
#include "qwenedge/session.hpp"
