// libsoup's classes, initialised once before two network threads could race on them.
#pragma once

namespace claynet::signaling {

/// Initialises, once per process, the libsoup classes claynet instantiates (session, message,
/// server, server message). Two runtimes starting signaling at the same moment would otherwise
/// initialise them on two network threads at once, which GLib 2.74's type system can deadlock
/// on (see rtc/gio_types.hpp). Call it before the first libsoup object on any thread.
void registerSoupTypes();

}  // namespace claynet::signaling
