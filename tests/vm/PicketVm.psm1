# PicketVm.psm1 - shared functions of Picket's VM test harness (docs/VM-TESTING.md).
#
# Runs on Windows PowerShell 5.1 (in every Windows 10/11) and PowerShell 7. The scripts next to
# this module are thin wrappers; everything they do is here so it is written once.

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

# Names fixed by the INF (inf/picket_driver.inx) and the driver.
$script:ServiceName = 'Picket'
$script:DriverFile = 'picket_driver.sys'
$script:InfName = 'picket_driver.inf'
$script:InstanceName = 'Picket Instance'
$script:ServiceKey = 'HKLM:\SYSTEM\CurrentControlSet\Services\Picket'

function Write-Step {
    param([Parameter(Mandatory)][string]$Message)
    Write-Host ''
    Write-Host "==> $Message" -ForegroundColor Cyan
}

function Assert-Administrator {
    $identity = [Security.Principal.WindowsIdentity]::GetCurrent()
    $principal = New-Object Security.Principal.WindowsPrincipal($identity)
    if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
        throw 'This script must run in an elevated PowerShell (Run as administrator).'
    }
}

# Runs a native program, echoes its output, and throws (with that output) on an exit code
# that is not allowed. Returns the output lines.
function Invoke-Native {
    param(
        [Parameter(Mandatory)][string]$FilePath,
        [string[]]$ArgumentList = @(),
        [int[]]$AllowedExitCodes = @(0),
        [switch]$Quiet
    )
    # Windows PowerShell 5.1 turns a native program's stderr into terminating errors under
    # ErrorActionPreference=Stop; only the exit code decides here.
    $ErrorActionPreference = 'Continue'
    $output = & $FilePath @ArgumentList 2>&1 | ForEach-Object { "$_" }
    $code = $LASTEXITCODE
    $ErrorActionPreference = 'Stop'
    if (-not $Quiet) { $output | ForEach-Object { Write-Host "    $_" } }
    if ($AllowedExitCodes -notcontains $code) {
        throw "$FilePath $($ArgumentList -join ' ') failed with exit code $code`n$($output -join "`n")"
    }
    return , @($output)
}

# --------------------------------------------------------------------------------------------
# Machine state
# --------------------------------------------------------------------------------------------

function Test-SecureBootOn {
    try { return [bool](Confirm-SecureBootUEFI -ErrorAction Stop) }
    catch { return $false }   # legacy BIOS, or the cmdlet is unsupported: no Secure Boot
}

# Says that a reboot is needed for $Why, and reboots now when -Reboot was given.
function Request-Reboot {
    param([Parameter(Mandatory)][string]$Why, [switch]$Reboot)
    Write-Host ''
    Write-Warning "A REBOOT IS NEEDED: $Why"
    if ($Reboot) {
        Write-Host 'Rebooting now.'
        Restart-Computer -Force
    } else {
        Write-Host 'Reboot with: Restart-Computer   (or run this script with -Reboot)'
    }
}

# The running boot's load options, as the boot loader passed them to the kernel (for example
# " NOEXECUTE=OPTIN  TESTSIGNING  DEBUG"). Unlike `bcdedit /enum`, which shows what is stored
# for the next boot, this reflects the boot in progress, and it is not localized.
function Get-SystemStartOptions {
    $control = Get-ItemProperty -Path 'HKLM:\SYSTEM\CurrentControlSet\Control' -Name 'SystemStartOptions' -ErrorAction SilentlyContinue
    if ($null -eq $control) { return '' }
    return [string]$control.SystemStartOptions
}

function Test-StartOption {
    param([Parameter(Mandatory)][string]$Name)
    $options = (Get-SystemStartOptions).Trim() -split '\s+'
    return [bool]($options | Where-Object { $_ -ieq $Name -or $_ -like "$Name=*" })
}

# True when the running boot has test signing on (the TESTSIGNING load option).
function Test-TestSigningOn {
    return (Test-StartOption 'TESTSIGNING')
}

# True when test signing is stored for the next boot of this entry (`bcdedit /set testsigning
# on`), whether or not this boot has it. bcdedit's element names are not localized; its
# boolean values are shown as Yes/No.
function Test-TestSigningConfigured {
    $lines = Invoke-Native -FilePath 'bcdedit.exe' -ArgumentList @('/enum', '{current}') -Quiet
    return [bool]($lines | Where-Object { $_ -match '^\s*testsigning\s+(Yes|On|True)\s*$' })
}

# The kernel debugger as the kernel sees it now (NtQuerySystemInformation,
# SystemKernelDebuggerInformation): Enabled = the boot has debugging on (bcdedit /debug on,
# e.g. KDNET); Attached = a debugger host is connected. Filter Verifier reports a violation
# to an attached debugger; with none, the violation may go unseen.
function Get-KernelDebuggerState {
    if (-not ('PicketVm.KernelDebugger' -as [type])) {
        Add-Type -Namespace PicketVm -Name KernelDebugger -MemberDefinition @'
[DllImport("ntdll.dll")]
public static extern int NtQuerySystemInformation(int SystemInformationClass, byte[] SystemInformation, int SystemInformationLength, out int ReturnLength);
'@
    }
    # SYSTEM_KERNEL_DEBUGGER_INFORMATION: BOOLEAN KernelDebuggerEnabled, KernelDebuggerNotPresent.
    $info = New-Object byte[] 2
    $returned = 0
    $status = [PicketVm.KernelDebugger]::NtQuerySystemInformation(35, $info, $info.Length, [ref]$returned)
    if ($status -ne 0) {
        throw ('NtQuerySystemInformation(SystemKernelDebuggerInformation) failed: NTSTATUS 0x{0:x8}' -f $status)
    }
    return [pscustomobject]@{
        Enabled  = ($info[0] -ne 0)
        Attached = ($info[0] -ne 0) -and ($info[1] -eq 0)
    }
}

# True when Driver Verifier is set up for the Picket driver (takes effect after a reboot).
function Test-VerifierConfigured {
    $lines = Invoke-Native -FilePath 'verifier.exe' -ArgumentList @('/querysettings') -Quiet -AllowedExitCodes @(0, 1)
    return [bool]($lines | Where-Object { $_ -match [regex]::Escape($script:DriverFile) })
}

# True when Driver Verifier is active for the Picket driver in this boot (it is loaded).
function Test-VerifierActive {
    $lines = Invoke-Native -FilePath 'verifier.exe' -ArgumentList @('/query') -Quiet -AllowedExitCodes @(0, 1)
    return [bool]($lines | Where-Object { $_ -match [regex]::Escape($script:DriverFile) })
}

# --------------------------------------------------------------------------------------------
# Driver package
# --------------------------------------------------------------------------------------------

# The published names (oemNN.inf) under which the Picket package sits in the driver store.
function Get-PicketPublishedInf {
    $drivers = @(Get-WindowsDriver -Online | Where-Object {
            $_.OriginalFileName -and ((Split-Path -Leaf $_.OriginalFileName) -ieq $script:InfName)
        })
    return , @($drivers | ForEach-Object { $_.Driver })
}

# Trusts the package's test certificate, then adds and installs the package with pnputil.
function Install-PicketDriver {
    param([Parameter(Mandatory)][string]$PackageDir)
    $inf = Join-Path $PackageDir $script:InfName
    foreach ($file in @($inf, (Join-Path $PackageDir 'picket_driver.cat'), (Join-Path $PackageDir $script:DriverFile))) {
        if (-not (Test-Path $file)) { throw "Driver package incomplete: $file not found (build it with 'cargo make package')." }
    }
    $cer = Get-ChildItem -Path $PackageDir -Filter '*.cer' | Select-Object -First 1
    if ($cer) {
        # Root: the chain is trusted. TrustedPublisher: pnputil installs without a prompt.
        Write-Step "Trusting test certificate $($cer.Name) (LocalMachine Root and TrustedPublisher)"
        Invoke-Native -FilePath 'certutil.exe' -ArgumentList @('-f', '-addstore', 'Root', $cer.FullName) -Quiet | Out-Null
        Invoke-Native -FilePath 'certutil.exe' -ArgumentList @('-f', '-addstore', 'TrustedPublisher', $cer.FullName) -Quiet | Out-Null
    } else {
        Write-Warning "No .cer in ${PackageDir}; pnputil may refuse a package signed by an untrusted test certificate."
    }
    Write-Step "Installing $inf (pnputil /add-driver /install)"
    # 3010: installed, reboot required to complete. Not expected for a demand-start filter,
    # but not a failure either.
    # 259 (ERROR_NO_MORE_ITEMS) is what some builds return when no device matched, which is
    # always so for a primitive driver; Assert-PicketService below checks what was installed.
    Invoke-Native -FilePath 'pnputil.exe' -ArgumentList @('/add-driver', $inf, '/install') -AllowedExitCodes @(0, 259, 3010) | Out-Null
    $published = Get-PicketPublishedInf
    if ($published.Count -eq 0) { throw "pnputil reported success but no $($script:InfName) is in the driver store." }
    Write-Host "    published as: $($published -join ', ')"
    Assert-PicketService
}

# Checks what the INF should have written: the service and its minifilter instance.
function Assert-PicketService {
    if (-not (Test-Path $script:ServiceKey)) { throw "Service key $($script:ServiceKey) missing after install." }
    $svc = Get-ItemProperty -Path $script:ServiceKey
    if ($svc.Type -ne 2) { throw "Service Type is $($svc.Type), expected 2 (SERVICE_FILE_SYSTEM_DRIVER)." }
    if ($svc.Start -ne 3) { throw "Service Start is $($svc.Start), expected 3 (SERVICE_DEMAND_START)." }
    # Build 25952+ reads the instances under Parameters; earlier builds directly under the key.
    $candidates = @("$($script:ServiceKey)\Parameters\Instances", "$($script:ServiceKey)\Instances")
    $instances = $candidates | Where-Object { Test-Path (Join-Path $_ $script:InstanceName) } | Select-Object -First 1
    if (-not $instances) { throw "No '$($script:InstanceName)' under $($candidates -join ' or ')." }
    $instance = Get-ItemProperty -Path (Join-Path $instances $script:InstanceName)
    Write-Host "    service: Type=2 Start=3 ImagePath=$($svc.ImagePath)"
    Write-Host "    instance: $instances\$($script:InstanceName) Altitude=$($instance.Altitude) Flags=$($instance.Flags)"
}

function Uninstall-PicketDriver {
    $published = Get-PicketPublishedInf
    if ($published.Count -eq 0) { Write-Host "    no $($script:InfName) in the driver store"; }
    foreach ($oem in $published) {
        Write-Step "Removing $oem (pnputil /delete-driver /uninstall)"
        Invoke-Native -FilePath 'pnputil.exe' -ArgumentList @('/delete-driver', $oem, '/uninstall') -AllowedExitCodes @(0, 3010) | Out-Null
    }
    if (Test-Path $script:ServiceKey) {
        # pnputil removes the service of a primitive driver; this only tidies a failed install.
        Write-Warning "Service $($script:ServiceName) still present after pnputil; deleting it with sc.exe."
        Invoke-Native -FilePath 'sc.exe' -ArgumentList @('delete', $script:ServiceName) -AllowedExitCodes @(0, 1060, 1072) | Out-Null
    }
}

# --------------------------------------------------------------------------------------------
# Filter Manager
# --------------------------------------------------------------------------------------------

function Test-PicketFilterLoaded {
    $lines = Invoke-Native -FilePath 'fltmc.exe' -ArgumentList @('filters') -Quiet
    return [bool]($lines | Where-Object { $_ -match "^\s*$($script:ServiceName)\s" })
}

function Start-PicketFilter {
    Write-Step "Loading the filter (fltmc load $($script:ServiceName))"
    Invoke-Native -FilePath 'fltmc.exe' -ArgumentList @('load', $script:ServiceName) | Out-Null
    if (-not (Test-PicketFilterLoaded)) { throw 'fltmc load succeeded but the filter is not listed by fltmc filters.' }
    Invoke-Native -FilePath 'fltmc.exe' -ArgumentList @('instances', '-f', $script:ServiceName) | Out-Null
}

function Stop-PicketFilter {
    if (Test-PicketFilterLoaded) {
        Write-Step "Unloading the filter (fltmc unload $($script:ServiceName))"
        Invoke-Native -FilePath 'fltmc.exe' -ArgumentList @('unload', $script:ServiceName) | Out-Null
        if (Test-PicketFilterLoaded) { throw 'fltmc unload succeeded but the filter is still listed.' }
    }
}

# --------------------------------------------------------------------------------------------
# The shared workload (tests/data/workload.json, format in tests/data/README.md)
# --------------------------------------------------------------------------------------------

# Reads a nested property of a ConvertFrom-Json object; $null when any level is missing
# (StrictMode forbids reading absent properties directly).
function Get-JsonValue {
    param($Object, [Parameter(Mandatory)][string[]]$Path)
    $current = $Object
    foreach ($name in $Path) {
        if ($null -eq $current) { return $null }
        $property = $current.PSObject.Properties[$name]
        if ($null -eq $property) { return $null }
        $current = $property.Value
    }
    return $current
}

function Read-PicketWorkload {
    param([Parameter(Mandatory)][string]$Path)
    $workload = Get-Content -Raw -Path $Path | ConvertFrom-Json
    if ((Get-JsonValue $workload @('format')) -ne 1) {
        throw "$Path has workload format $(Get-JsonValue $workload @('format')); this harness reads format 1."
    }
    return $workload
}

function Test-AppliesToWindows {
    param($Item)
    $platforms = Get-JsonValue $Item @('platforms')
    return ($null -eq $platforms) -or (@($platforms) -contains 'windows')
}

# Win32 calls .NET does not expose, or does through more than one system call.
function Initialize-Win32 {
    if ('PicketVm.Win32' -as [type]) { return }
    Add-Type -Namespace PicketVm -Name Win32 -MemberDefinition @'
[DllImport("kernel32.dll", CharSet = CharSet.Unicode, SetLastError = true)]
public static extern bool CreateHardLinkW(string lpFileName, string lpExistingFileName, IntPtr lpSecurityAttributes);

[DllImport("kernel32.dll", SetLastError = true)]
public static extern bool SetFileInformationByHandle(Microsoft.Win32.SafeHandles.SafeFileHandle hFile, int FileInformationClass, ref long lpFileInformation, int dwBufferSize);
'@
}

# Byte i of a write is i mod 251, as on Linux (tests/workload/posix.rs).
function New-Pattern {
    param([Parameter(Mandatory)][long]$Size)
    $bytes = New-Object byte[] $Size
    for ($i = 0; $i -lt $Size; $i++) { $bytes[$i] = [byte]($i % 251) }
    return , $bytes
}

function Join-ScratchPath {
    param([Parameter(Mandatory)][string]$Scratch, [Parameter(Mandatory)][string]$Relative)
    return Join-Path $Scratch ($Relative -replace '/', '\')
}

# Performs one step with the Win32 calls tests/data/README.md lists. Every handle is closed
# before it returns.
function Invoke-WorkloadStep {
    param([Parameter(Mandatory)]$Step, [Parameter(Mandatory)][string]$Scratch)
    $op = Get-JsonValue $Step @('op')
    $path = Join-ScratchPath $Scratch (Get-JsonValue $Step @('path'))
    $newRel = Get-JsonValue $Step @('new_path')
    $newPath = if ($newRel) { Join-ScratchPath $Scratch $newRel } else { $null }
    $size = Get-JsonValue $Step @('size')
    # bufferSize 1 turns FileStream's buffer off: each Write is one WriteFile.
    switch ($op) {
        'mkdir' {
            if (Test-Path -LiteralPath $path) { throw "$path already exists" }
            [void][System.IO.Directory]::CreateDirectory($path)
        }
        'create' {
            $fs = New-Object System.IO.FileStream($path, [System.IO.FileMode]::CreateNew, [System.IO.FileAccess]::Write, [System.IO.FileShare]::None, 1)
            try { $bytes = New-Pattern $size; $fs.Write($bytes, 0, $bytes.Length) } finally { $fs.Dispose() }
        }
        'write' {
            $fs = New-Object System.IO.FileStream($path, [System.IO.FileMode]::Open, [System.IO.FileAccess]::Write, [System.IO.FileShare]::None, 1)
            try {
                [void]$fs.Seek(0, [System.IO.SeekOrigin]::End)
                $bytes = New-Pattern $size
                $fs.Write($bytes, 0, $bytes.Length)
            } finally { $fs.Dispose() }
        }
        'rename' {
            if (Test-Path -LiteralPath $newPath) { throw "$newPath already exists" }
            [System.IO.File]::Move($path, $newPath)   # MoveFileW: never replaces
        }
        'hardlink' {
            Initialize-Win32
            if (-not [PicketVm.Win32]::CreateHardLinkW($newPath, $path, [IntPtr]::Zero)) {
                throw "CreateHardLinkW($newPath, $path) failed: Win32 error $([Runtime.InteropServices.Marshal]::GetLastWin32Error())"
            }
        }
        'truncate' {
            Initialize-Win32
            $fs = New-Object System.IO.FileStream($path, [System.IO.FileMode]::Open, [System.IO.FileAccess]::Write, [System.IO.FileShare]::None, 1)
            try {
                # FileEndOfFileInfo (6): exactly one FileEndOfFileInformation request. SetEndOfFile
                # would also set the allocation size, a second request.
                [long]$endOfFile = $size
                if (-not [PicketVm.Win32]::SetFileInformationByHandle($fs.SafeFileHandle, 6, [ref]$endOfFile, 8)) {
                    throw "SetFileInformationByHandle(FileEndOfFileInfo) failed: Win32 error $([Runtime.InteropServices.Marshal]::GetLastWin32Error())"
                }
            } finally { $fs.Dispose() }
        }
        'delete' { [System.IO.File]::Delete($path) }
        'delete_on_close' {
            if (-not (Test-Path -LiteralPath $path)) { throw "$path does not exist" }
            $share = [System.IO.FileShare]::ReadWrite -bor [System.IO.FileShare]::Delete
            $fs = New-Object System.IO.FileStream($path, [System.IO.FileMode]::Open, [System.IO.FileAccess]::Read, $share, 1, [System.IO.FileOptions]::DeleteOnClose)
            $fs.Dispose()
        }
        'rmdir' { [System.IO.Directory]::Delete($path, $false) }
        default { throw "unknown workload op '$op'" }
    }
}

function Invoke-PicketWorkload {
    param([Parameter(Mandatory)]$Workload, [Parameter(Mandatory)][string]$Scratch)
    # Compile the P/Invoke helpers before the first step, not in the middle of the workload.
    Initialize-Win32
    foreach ($step in @($Workload.steps)) {
        if (-not (Test-AppliesToWindows $step)) { continue }
        $id = Get-JsonValue $step @('id')
        $desc = "$(Get-JsonValue $step @('op')) $(Get-JsonValue $step @('path'))"
        $new = Get-JsonValue $step @('new_path')
        if ($new) { $desc += " -> $new" }
        Write-Host ("    {0,-22} {1}" -f $id, $desc)
        try { Invoke-WorkloadStep -Step $step -Scratch $Scratch }
        catch { throw "workload step '$id' ($desc) failed: $($_.Exception.Message)" }
    }
}

# --------------------------------------------------------------------------------------------
# Comparing the client's OCSF output with the expected events
# --------------------------------------------------------------------------------------------

# Makes a Windows path relative to the scratch folder ('/'-separated), or $null when it is not
# strictly inside it. Case-insensitive, like NTFS names.
function ConvertTo-ScratchRelative {
    param([string]$FullPath, [Parameter(Mandatory)][string]$Scratch)
    if (-not $FullPath) { return $null }
    $full = $FullPath -replace '/', '\'
    $prefix = $Scratch.TrimEnd('\') + '\'
    if (-not $full.StartsWith($prefix, [StringComparison]::OrdinalIgnoreCase)) { return $null }
    $rest = $full.Substring($prefix.Length)
    if ($rest.Length -eq 0) { return $null }
    return ($rest -replace '\\', '/')
}

function Format-EventKey {
    param([string]$Operation, [string]$Path, [string]$NewPath)
    if ($NewPath) { return "$Operation $Path -> $NewPath" }
    return "$Operation $Path"
}

# Reads the client's JSON Lines and returns the file events inside the scratch folder.
function Read-ScratchEvents {
    param([Parameter(Mandatory)][string]$OutputFile, [Parameter(Mandatory)][string]$Scratch)
    $events = New-Object System.Collections.Generic.List[object]
    if (-not (Test-Path $OutputFile)) { return , $events }
    # The run folder's unique name appears in every line worth parsing: skip the others
    # without paying for ConvertFrom-Json (the client may report the whole volume).
    $needle = Split-Path -Leaf (Split-Path -Parent $Scratch.TrimEnd('\'))
    $lineNumber = 0
    foreach ($line in [System.IO.File]::ReadAllLines($OutputFile)) {
        $lineNumber++
        if ($line.IndexOf($needle, [StringComparison]::OrdinalIgnoreCase) -lt 0) { continue }
        try { $obj = $line | ConvertFrom-Json }
        catch { throw "output line $lineNumber is not JSON: $line" }
        $operation = Get-JsonValue $obj @('unmapped', 'picket', 'operation')
        if (-not $operation) { continue }
        $full = Get-JsonValue $obj @('file', 'path')
        $fullNew = Get-JsonValue $obj @('file_result', 'path')
        $rel = ConvertTo-ScratchRelative $full $Scratch
        $relNew = ConvertTo-ScratchRelative $fullNew $Scratch
        if (-not $rel -and -not $relNew) { continue }
        # A name outside the scratch folder is kept in full, so a move across its border shows.
        if (-not $rel) { $rel = $full }
        if (-not $relNew -and $fullNew -and ($operation -eq 'rename' -or $operation -eq 'hardlink')) { $relNew = $fullNew }
        $events.Add([pscustomobject]@{
                Line      = $lineNumber
                Operation = [string]$operation
                Path      = [string]$rel
                NewPath   = [string]$relNew
                Pid       = Get-JsonValue $obj @('actor', 'process', 'pid')
            })
    }
    return , $events
}

# Compares observed events with the workload's Windows expectation. Returns an object with
# Passed, Expected, Actual, WrongPid and a printable Report.
function Compare-PicketEvents {
    param(
        [Parameter(Mandatory)]$Workload,
        [Parameter(Mandatory)][AllowEmptyCollection()]$Observed,
        [Parameter(Mandatory)][int]$RunnerPid
    )
    $ignored = @(Get-JsonValue $Workload @('ignored_operations', 'windows'))
    $expected = @($Workload.expected_events | Where-Object { Test-AppliesToWindows $_ } | ForEach-Object {
            (Format-EventKey $_.operation $_.path (Get-JsonValue $_ @('new_path'))).ToLowerInvariant()
        })
    $kept = @($Observed | Where-Object { $ignored -notcontains $_.Operation })
    $actual = @($kept | ForEach-Object { (Format-EventKey $_.Operation $_.Path $_.NewPath).ToLowerInvariant() })
    $wrongPid = @($kept | Where-Object { [string]$_.Pid -ne [string]$RunnerPid } | ForEach-Object {
            "$(Format-EventKey $_.Operation $_.Path $_.NewPath) (pid $($_.Pid), line $($_.Line))"
        })
    $rows = [Math]::Max($expected.Count, $actual.Count)
    $lines = New-Object System.Collections.Generic.List[string]
    $same = ($expected.Count -eq $actual.Count)
    for ($i = 0; $i -lt $rows; $i++) {
        $e = if ($i -lt $expected.Count) { $expected[$i] } else { '(none)' }
        $a = if ($i -lt $actual.Count) { $actual[$i] } else { '(none)' }
        $mark = if ($e -eq $a) { '  ' } else { $same = $false; '!!' }
        $lines.Add(("{0} #{1,-2} expected: {2,-45} actual: {3}" -f $mark, $i, $e, $a))
    }
    foreach ($w in $wrongPid) { $lines.Add("!! wrong pid (workload ran as $RunnerPid): $w") }
    return [pscustomobject]@{
        Passed   = ($same -and $wrongPid.Count -eq 0)
        Expected = $expected
        Actual   = $actual
        WrongPid = $wrongPid
        Report   = ($lines -join "`n")
    }
}

$exported = @(
    'Write-Step'
    'Assert-Administrator'
    'Invoke-Native'
    'Test-SecureBootOn'
    'Get-SystemStartOptions'
    'Test-TestSigningOn'
    'Test-TestSigningConfigured'
    'Get-KernelDebuggerState'
    'Test-VerifierConfigured'
    'Test-VerifierActive'
    'Get-PicketPublishedInf'
    'Install-PicketDriver'
    'Assert-PicketService'
    'Uninstall-PicketDriver'
    'Test-PicketFilterLoaded'
    'Start-PicketFilter'
    'Stop-PicketFilter'
    'Get-JsonValue'
    'Read-PicketWorkload'
    'Test-AppliesToWindows'
    'Invoke-WorkloadStep'
    'Invoke-PicketWorkload'
    'ConvertTo-ScratchRelative'
    'Format-EventKey'
    'Read-ScratchEvents'
    'Compare-PicketEvents'
    'Request-Reboot'
)
Export-ModuleMember -Function $exported
