// Copyright 2026 The Picos for C++ Authors.

#include "std/sync/channel.h"

#include <string>

namespace picos::sync {

ChannelClosed::ChannelClosed(const char* operation)
    : std::runtime_error(std::string("picos::sync::Channel::") + operation +
                         ": the channel is closed") {}

ChannelClosed::~ChannelClosed() = default;

}  // namespace picos::sync
