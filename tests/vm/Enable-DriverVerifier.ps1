<#
.SYNOPSIS
    Puts picket_driver.sys under Driver Verifier with Microsoft's recommended minifilter settings.
    Needs a reboot.

.DESCRIPTION
    Microsoft recommends starting Filter Verifier (the File System Filter Verification checks
    of Driver Verifier) with the standard settings, which add special pool and pool tracking:
        verifier.exe /standard /driver picket_driver.sys
    Verification starts when the driver registers with Filter Manager, i.e. at `fltmc load`.
    Settings are read at boot, so reboot before loading the driver. Filter Verifier reports a
    violation to a kernel debugger (a message naming the rule, then a break/ignore prompt); it
    does not bug-check a machine with no debugger attached, so violations can pass unseen.
    Attach one over the network (KDNET) for the run: on the VM `bcdedit /debug on` and
    `bcdedit /dbgsettings net hostip:<host> port:50000` (prints the key), reboot, and on the
    host `windbg -k net:port=50000,key=<key>` (docs/VM-TESTING.md). Invoke-PicketVmTest.ps1
    marks a pass under Verifier with no debugger attached as provisional. On builds before 25126 do not also verify ntoskrnl: Microsoft documents
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
    if (-not $Disable -and -not (Get-KernelDebuggerState).Enabled) {
        Write-Warning 'Kernel debugging is off in this boot: Filter Verifier reports violations to a debugger. Set up KDNET (Get-Help .\Enable-DriverVerifier.ps1 -Full) for a final pass.'
    }
    Request-Reboot -Why 'Driver Verifier reads its settings at boot.' -Reboot:$Reboot
    exit 0
} catch {
    Write-Host "FAILED: $($_.Exception.Message)" -ForegroundColor Red
    exit 2
}
