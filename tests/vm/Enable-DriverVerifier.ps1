<#
.SYNOPSIS
    Puts picket_driver.sys under Driver Verifier with Microsoft's recommended minifilter settings.
    Needs a reboot.

.DESCRIPTION
    Microsoft recommends starting Filter Verifier (the File System Filter Verification checks
    of Driver Verifier) with the standard settings, which add special pool and pool tracking:
        verifier.exe /standard /driver picket_driver.sys
    Verification starts when the driver registers with Filter Manager, i.e. at `fltmc load`.
    Settings are read at boot, so reboot before loading the driver. A violation stops the
    machine with a bug check naming the rule; attach a kernel debugger (or read the memory
    dump) to see it. On builds before 25126 do not also verify ntoskrnl: Microsoft documents
    spurious errors when minifilters and ntoskrnl are verified together.

.PARAMETER Reboot
    Restart right away after changing the settings.

.PARAMETER Disable
    Turn Driver Verifier off (verifier.exe /reset); also needs a reboot.

.EXAMPLE
    .\Enable-DriverVerifier.ps1 -Reboot
#>
[CmdletBinding()]
param([switch]$Reboot, [switch]$Disable)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
Import-Module (Join-Path $PSScriptRoot 'PicketVm.psm1') -Force

try {
    Assert-Administrator
    if ($Disable) {
        Write-Step 'Turning Driver Verifier off (verifier /reset)'
        # verifier returns 2 when a reboot is needed for the change.
        Invoke-Native -FilePath 'verifier.exe' -ArgumentList @('/reset') -AllowedExitCodes @(0, 2) | Out-Null
    } elseif (Test-VerifierConfigured) {
        Write-Host 'Driver Verifier is already configured for picket_driver.sys:'
        Invoke-Native -FilePath 'verifier.exe' -ArgumentList @('/querysettings') -AllowedExitCodes @(0, 1) | Out-Null
        exit 0
    } else {
        Write-Step 'Enabling Driver Verifier: verifier /standard /driver picket_driver.sys'
        Invoke-Native -FilePath 'verifier.exe' -ArgumentList @('/standard', '/driver', 'picket_driver.sys') -AllowedExitCodes @(0, 2) | Out-Null
    }
    Request-Reboot -Why 'Driver Verifier reads its settings at boot.' -Reboot:$Reboot
    exit 0
} catch {
    Write-Host "FAILED: $($_.Exception.Message)" -ForegroundColor Red
    exit 2
}
