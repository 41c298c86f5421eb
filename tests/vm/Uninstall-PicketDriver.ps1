<#
.SYNOPSIS
    Unloads the Picket filter if it is loaded and removes its package from the driver store.

.EXAMPLE
    .\Uninstall-PicketDriver.ps1
#>
[CmdletBinding()]
param()

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
Import-Module (Join-Path $PSScriptRoot 'PicketVm.psm1') -Force

try {
    Assert-Administrator
    Stop-PicketFilter
    Uninstall-PicketDriver
    Write-Host ''
    Write-Host 'Uninstalled.' -ForegroundColor Green
    exit 0
} catch {
    Write-Host "FAILED: $($_.Exception.Message)" -ForegroundColor Red
    exit 2
}
