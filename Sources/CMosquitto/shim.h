// libmosquitto (Debian's libmosquitto-dev): the MQTT client behind Warden's event
// publishing. Its functions are plain C and not variadic, so Swift calls them directly;
// this header only gathers what the adapter uses.
#ifndef WARDEN_CMOSQUITTO_SHIM_H
#define WARDEN_CMOSQUITTO_SHIM_H
#include <mosquitto.h>
#endif
