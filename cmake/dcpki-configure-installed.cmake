# Writes OUT from the template IN (configure_file @ONLY) for the installation
# prefix PREFIX, with
#   @DCPKI_FULL_LIBDIR@  the absolute library directory (LIBDIR under PREFIX
#                        unless LIBDIR is absolute)
#   @DCPKI_P11_MODULE@   how p11-kit's registration names the PKCS#11 module: its
#                        bare file name when it is installed in p11-kit's own
#                        module directory P11KIT_MODULE_PATH (p11-kit resolves
#                        relative names there, and the registration is then the
#                        same on every architecture), else its absolute path.
# Run twice: at configure time for CMAKE_INSTALL_PREFIX (the build tree has the
# file), and by install(CODE) before install(FILES) for the prefix given to
# `cmake --install --prefix` (configure_file rewrites OUT only when it changes).
# Variables in: IN OUT PREFIX LIBDIR P11KIT_MODULE_PATH.
if(IS_ABSOLUTE "${LIBDIR}")
  set(DCPKI_FULL_LIBDIR "${LIBDIR}")
else()
  set(DCPKI_FULL_LIBDIR "${PREFIX}/${LIBDIR}")
endif()
set(_dcpki_p11_dir "${DCPKI_FULL_LIBDIR}/pkcs11")
if(P11KIT_MODULE_PATH AND _dcpki_p11_dir STREQUAL P11KIT_MODULE_PATH)
  set(DCPKI_P11_MODULE "dcpki-pkcs11.so")
else()
  set(DCPKI_P11_MODULE "${_dcpki_p11_dir}/dcpki-pkcs11.so")
endif()
configure_file("${IN}" "${OUT}" @ONLY)
