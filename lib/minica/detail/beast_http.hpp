// <boost/beast/http.hpp> for minica's code: GCC 12 reports
// -Wmaybe-uninitialized inside Beast's parser (a boost::optional it
// returns) once inlined into a caller, as in the sanitizer builds: not ours
// to fix, and silenced for Beast's own lines only. Clang has no such group
// and would warn about the pragma itself.
#pragma once

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <boost/beast/http.hpp>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
