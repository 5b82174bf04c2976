#include "signaling/soup_types.hpp"

#include <libsoup/soup.h>

#include <mutex>

namespace claynet::signaling {

void registerSoupTypes() {
  static std::once_flag once;
  std::call_once(once, [] {
    // GIO's own types are registered already: every claynet::Runtime does that first.
    for (GType t :
         {SOUP_TYPE_SESSION, SOUP_TYPE_MESSAGE, SOUP_TYPE_SERVER, SOUP_TYPE_SERVER_MESSAGE})
      g_type_class_unref(g_type_class_ref(t));
  });
}

}  // namespace claynet::signaling
