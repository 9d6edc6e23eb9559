# Install rules and the Debian package (cpack -G DEB).
#
# `cmake --install` keeps CMake's default prefix, /usr/local: binaries in
# /usr/local/{bin,sbin}, the table in /usr/local/etc/miz, the unit and the
# sysusers/tmpfiles snippets under /usr/local/lib (where systemd looks too).
# The package is built from a tree configured with -DCMAKE_INSTALL_PREFIX=/usr:
# GNUInstallDirs then puts the table in /etc/miz (its special case for /usr),
# and the unit goes to Debian 12's /lib/systemd/system.
include(GNUInstallDirs)

install(TARGETS mizd RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})   # a daemon: sbin
install(TARGETS miz-cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS miz-dashboard RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS miz-open311 RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES conf/miz.yaml DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/miz)

# The units as written name Debian's paths; under another prefix their
# ExecStart must name that prefix's binary and table.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(MIZ_UNITDIR /lib/systemd/system)
else()
  set(MIZ_UNITDIR ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
endif()
# unit: systemd/NAME.service; dir: bin or sbin, where the binary is
function(miz_install_unit name binary dir)
  string(TOUPPER ${dir} DIR)
  set(source ${PROJECT_SOURCE_DIR}/systemd/${name}.service)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${source})
  file(READ ${source} unit)
  string(REPLACE "/usr/${dir}/${binary}" "${CMAKE_INSTALL_FULL_${DIR}DIR}/${binary}" unit "${unit}")
  string(REPLACE "/etc/miz/miz.yaml" "${CMAKE_INSTALL_FULL_SYSCONFDIR}/miz/miz.yaml" unit "${unit}")
  file(CONFIGURE OUTPUT systemd/${name}.service CONTENT "${unit}" @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/systemd/${name}.service DESTINATION ${MIZ_UNITDIR})
endfunction()
miz_install_unit(mizd mizd sbin)
miz_install_unit(miz-dashboard miz-dashboard bin)
miz_install_unit(miz-open311 miz-open311 bin)
# Named after the package, as dh_installsysusers and dh_installtmpfiles do.
install(FILES systemd/mizd.sysusers DESTINATION lib/sysusers.d RENAME miz.conf)
install(FILES systemd/mizd.tmpfiles DESTINATION lib/tmpfiles.d RENAME miz.conf)

# Man pages, compressed as Debian policy wants (-n: no name or time stamp in
# the .gz, so the package is reproducible).
foreach(page mizd.8 miz.1 miz-dashboard.1 miz-open311.1)
  string(REGEX REPLACE ".*\\.([0-9])$" "\\1" section ${page})
  add_custom_command(OUTPUT man/${page}.gz
    COMMAND ${CMAKE_COMMAND} -E copy ${PROJECT_SOURCE_DIR}/man/${page} man/${page}
    COMMAND gzip -9nf man/${page}
    DEPENDS ${PROJECT_SOURCE_DIR}/man/${page} VERBATIM)
  install(FILES ${PROJECT_BINARY_DIR}/man/${page}.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
  list(APPEND man_pages man/${page}.gz)
endforeach()
add_custom_target(man ALL DEPENDS ${man_pages})

# The Python client library, where Debian's python3 finds modules
# (/usr/lib/python3/dist-packages; /usr/local/lib/... under /usr/local).
install(FILES clients/python/miz.py DESTINATION lib/python3/dist-packages)

file(GLOB docs CONFIGURE_DEPENDS docs/*.md)
install(FILES README.md ${docs} DESTINATION ${CMAKE_INSTALL_DOCDIR})

# ---- the Debian package ----
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME miz)
set(CPACK_PACKAGE_CONTACT "Seed 86d40658 maintainers <maintainers@users.noreply.h-seed-86d40658.example>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "message broker for citizens' requests to government agencies")
# cpack puts the summary first and indents this below it, as debian/control wants.
set(CPACK_PACKAGE_DESCRIPTION "mizd routes each request submitted by an intake gateway (call centre,
web portal, SMS) to the agencies that must answer it, offers it to their
worker services and holds every agency to its deadlines, escalating what
goes unanswered. Requests are kept in an LMDB store and survive restarts.

This package holds the daemon mizd, its systemd unit, the command-line
client miz (submit, status, an agency worker from the shell, weekly
reports, keys), miz-dashboard (the governor's office dashboard: a web
page of every agency's backlog, overdue cases and answer times, and its
weekly reports), miz-open311 (the Open311 GeoReport v2 intake gateway:
apps and portals list the services, post requests and follow them over
HTTP), the Python client library (the module miz, for python3-zmq and
python3-msgpack) and a default routing table in /etc/miz/miz.yaml. The
systemd units of miz-dashboard and miz-open311 are installed, not enabled.
Backups of the store use mdb_copy, from lmdb-utils.")
# mdb_copy, for backups (docs/deploy.md); what the Python library imports
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "lmdb-utils, python3-zmq, python3-msgpack")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)   # miz_VERSION_ARCH.deb
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)    # Depends: from dpkg-shlibdeps
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${PROJECT_SOURCE_DIR}/cmake/deb/conffiles
  ${PROJECT_SOURCE_DIR}/cmake/deb/postinst
  ${PROJECT_SOURCE_DIR}/cmake/deb/prerm
  ${PROJECT_SOURCE_DIR}/cmake/deb/postrm)
# Checked by cmake/cpack-project.cmake when cpack runs: a package built
# from a /usr/local tree would put the table in /usr/local/etc.
set(CPACK_MIZ_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_PROJECT_CONFIG_FILE ${PROJECT_SOURCE_DIR}/cmake/cpack-project.cmake)
include(CPack)
