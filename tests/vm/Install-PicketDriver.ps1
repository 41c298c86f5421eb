<#
.SYNOPSIS
    Installs the Picket driver package with pnputil and (optionally) loads the filter.

.PARAMETER PackageDir
    The folder `cargo make package` produced (picket_driver.sys/.inf/.cat/.pdb and the test
    certificate). Default: .\driver next to this script (the layout of `cargo make vm-bundle`).

.PARAMETER Load
    Also run `fltmc load Picket`.

.EXAMPLE
    .\Install-PicketDriver.ps1 -Load
#>
[CmdletBinding()]
param(
    [string]$PackageDir = (Join-Path $PSScriptRoot 'driver'),
    [switch]$Load
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
Import-Module (Join-Path $PSScriptRoot 'PicketVm.psm1') -Force

try {
    Assert-Administrator
    if (-not (Test-TestSigningOn)) {
        if (Test-TestSigningConfigured) { throw 'Test signing is set but not active in this boot: reboot first.' }
        throw 'Test signing is off in this boot: run .\Enable-TestSigning.ps1 and reboot first.'
    }
    Install-PicketDriver -PackageDir (Resolve-Path $PackageDir).ProviderPath
    if ($Load) { Start-PicketFilter }
    Write-Host ''
    Write-Host 'Installed.' -ForegroundColor Green
    exit 0
} catch {
    Write-Host "FAILED: $($_.Exception.Message)" -ForegroundColor Red
    exit 2
}
