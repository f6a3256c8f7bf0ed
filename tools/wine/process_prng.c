/* Test tooling only, never shipped: Rust's standard library (1.78+) takes
 * its randomness from ProcessPrng in bcryptprimitives.dll, which Wine 8.0
 * (Debian 12) does not provide, so every Rust program fails to load there
 * (c0000135). This stand-in exports ProcessPrng on top of RtlGenRandom
 * (advapi32's SystemFunction036), which Wine does implement. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
