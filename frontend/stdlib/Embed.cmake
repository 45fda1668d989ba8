# Turns the standard library's .kiln files into a C++ table of (name, text) pairs, so that the
# kiln binary carries its library with it. Run with -DSTDLIB_DIR=... -DOUTPUT=...
file(GLOB sources "${STDLIB_DIR}/*.kiln")
list(SORT sources)
set(text "// Generated from frontend/stdlib/*.kiln by Embed.cmake; do not edit.\n")
foreach(source IN LISTS sources)
  get_filename_component(name "${source}" NAME)
  file(READ "${source}" contents)
  string(APPEND text "{\"stdlib/${name}\", R\"kiln_source(${contents})kiln_source\"},\n")
endforeach()
file(WRITE "${OUTPUT}.tmp" "${text}")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
