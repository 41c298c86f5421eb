<#
.SYNOPSIS
    Turns test signing on, so Windows loads Picket's test-signed driver. Needs a reboot.

.DESCRIPTION
    Runs `bcdedit /set testsigning on` for the current boot entry. Windows refuses this while
    Secure Boot is on: turn Secure Boot off in the VM's firmware settings first (Hyper-V: VM
    Settings > Security > clear "Enable Secure Boot"). The setting takes effect at the next boot;
    the desktop then shows "Test Mode" in a corner. Whether this boot has it is read from the
    running boot's load options (SystemStartOptions contains TESTSIGNING), not from bcdedit,
    which shows what is stored for the next boot: when test signing is stored but this boot
    does not have it, the script says a reboot is still pending.

    Use a disposable test VM: test signing lowers the machine's protection against malicious
    drivers. Undo with `bcdedit /set testsigning off` and a reboot.

.PARAMETER Reboot
    Restart the machine right away when a change was made.

.EXAMPLE
    .\Enable-TestSigning.ps1 -Reboot
#>
[CmdletBinding()]
param([switch]$Reboot)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
Import-Module (Join-Path $PSScriptRoot 'PicketVm.psm1') -Force

try {
    Assert-Administrator
    if (Test-TestSigningOn) {
        Write-Host 'Test signing is already on in this boot. Nothing to do.'
        exit 0
    }
    if (Test-TestSigningConfigured) {
        Write-Host 'Test signing is already set for the next boot, but this boot does not have it yet.'
        Request-Reboot -Why 'test signing is set (bcdedit) and takes effect at the next boot: the reboot is still pending.' -Reboot:$Reboot
        exit 0
    }
    if (Test-SecureBootOn) {
        throw ('Secure Boot is on, and Windows does not allow test signing with it. Turn Secure Boot ' +
            'off in the VM firmware settings (Hyper-V: VM Settings > Security > clear "Enable Secure Boot"), ' +
            'boot, and run this script again.')
    }
    Write-Step 'Enabling test signing (bcdedit /set testsigning on)'
    Invoke-Native -FilePath 'bcdedit.exe' -ArgumentList @('/set', 'testsigning', 'on') | Out-Null
    Request-Reboot -Why 'test signing takes effect at the next boot.' -Reboot:$Reboot
    exit 0
} catch {
    Write-Host "FAILED: $($_.Exception.Message)" -ForegroundColor Red
    exit 2
}
