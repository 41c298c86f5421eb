<#
.SYNOPSIS
    Picket's acceptance test on a real Windows machine: install, load, watch a scripted file
    workload, check the events, unload, uninstall. Exit code 0 = pass.

.DESCRIPTION
    On a disposable Windows 10 (2004+) or 11 VM with test signing on (Enable-TestSigning.ps1)
    and, recommended, Driver Verifier on picket_driver.sys (Enable-DriverVerifier.ps1):

      1. checks the machine (administrator, test signing in the running boot, Secure Boot
         off, Driver Verifier, kernel debugger);
      2. installs the driver package (pnputil /add-driver /install) and loads the filter
         (fltmc load Picket);
      3. starts `picket watch --output <file> --path-prefix <run>\scratch --path-prefix
         <run>\sync` (the workload's folders, not <run>\results where the client writes its
         output and this script reads it) and waits until an event from a probe file proves
         the kernel-to-client path is live;
      4. runs the workload of workload.json (tests/data/README.md) in <run>\scratch from this
         PowerShell process;
      5. writes an end marker, waits for it, stops the client;
      6. compares the file events inside the scratch folder with the expected events for
         platform "windows": same operations, paths and order, nothing missing, nothing extra,
         every event attributed to this process's pid (plain opens ignored, as the file says);
      7. unloads the filter (fltmc unload Picket) and removes the package.

    Exit codes: 0 pass; 1 the events, unload or uninstall were wrong; 2 the machine or the
    inputs were not ready (nothing was judged: test signing not active in this boot, a
    reboot pending, Secure Boot on, Driver Verifier not set up...). The client's output, its
    stderr and a summary.json stay in <run>\results.

    Filter Verifier reports a violation to a kernel debugger (with a break/ignore prompt); it
    does not stop a machine that has none attached. A pass with Driver Verifier active and no
    kernel debugger attached (KDNET, docs/VM-TESTING.md) is therefore reported as
    "pass (provisional)": exit code 0, with the reason in the summary.

.PARAMETER BundleDir
    Folder made by `cargo make vm-bundle`: driver\, picket.exe, workload.json and these scripts.
    Default: this script's folder.

.PARAMETER PackageDir
    Driver package folder. Default: <BundleDir>\driver.

.PARAMETER ClientExe
    picket.exe. Default: <BundleDir>\picket.exe.

.PARAMETER WorkloadFile
    The shared workload. Default: <BundleDir>\workload.json, else ..\data\workload.json (when run
    from a repository checkout).

.PARAMETER WorkRoot
    Where run folders are created. Default: C:\PicketVmTest.

.PARAMETER TimeoutSeconds
    How long to wait for the client to show the probe and the end marker. Default: 60.

.PARAMETER SkipInstall
    The driver is already installed (Install-PicketDriver.ps1): only load it if needed.

.PARAMETER KeepInstalled
    Leave the driver installed and loaded afterwards (for debugging).

.PARAMETER AllowNoVerifier
    Run even when Driver Verifier is not set up for picket_driver.sys.

.EXAMPLE
    .\Invoke-PicketVmTest.ps1
#>
[CmdletBinding()]
param(
    [string]$BundleDir = $PSScriptRoot,
    [string]$PackageDir,
    [string]$ClientExe,
    [string]$WorkloadFile,
    [string]$WorkRoot = 'C:\PicketVmTest',
    [int]$TimeoutSeconds = 60,
    [switch]$SkipInstall,
    [switch]$KeepInstalled,
    [switch]$AllowNoVerifier
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
Import-Module (Join-Path $PSScriptRoot 'PicketVm.psm1') -Force

# Outcome of the run, filled as it goes and printed (and saved) at the end.
$summary = [ordered]@{
    result          = 'error'
    reason          = ''
    machine         = [ordered]@{}
    run_folder      = ''
    expected_events = 0
    actual_events   = 0
    failures        = @()
}
$failures = New-Object System.Collections.Generic.List[string]
$client = $null
$installedHere = $false
$loadedHere = $false
$resultsDir = $null
$script:stderrLog = $null
$exitCode = 2
# Once the machine checks pass, anything that goes wrong is Picket's failure (exit 1), not the
# machine's (exit 2): a package that does not install, a filter that does not load, a client
# that sees nothing, a workload step that fails...
$judging = $false

# Whether the client's output already holds a line mentioning $Marker. The client keeps the
# file open, so read it with sharing.
function Test-OutputMentions {
    param([string]$OutputFile, [string]$Marker)
    if (-not (Test-Path $OutputFile)) { return $false }
    $stream = [System.IO.File]::Open($OutputFile, 'Open', 'Read', 'ReadWrite, Delete')
    try {
        $reader = New-Object System.IO.StreamReader($stream)
        return $reader.ReadToEnd().IndexOf($Marker, [StringComparison]::OrdinalIgnoreCase) -ge 0
    } finally { $stream.Dispose() }
}

# The kernel debugger in one word for the summary: attached, enabled (debugging on, no host
# connected), off, or why it could not be read.
function Get-DebuggerSummary {
    try {
        $state = Get-KernelDebuggerState
        if ($state.Attached) { return 'attached' }
        if ($state.Enabled) { return 'enabled, not attached' }
        return 'off'
    } catch { return "unknown ($($_.Exception.Message))" }
}

function Get-LogTail {
    param([string]$Path, [int]$Lines = 20)
    if ($Path -and (Test-Path $Path)) {
        try { return ((Get-Content -Path $Path -Tail $Lines) -join "`n") }
        catch { return "(cannot read ${Path}: $($_.Exception.Message))" }
    }
    return '(no log)'
}

# Creates files named <prefix>-<n> in the sync folder until one shows up in the output.
function Wait-ForMarker {
    param([string]$SyncDir, [string]$OutputFile, [string]$Prefix, [string]$What)
    $deadline = (Get-Date).AddSeconds($TimeoutSeconds)
    $n = 0
    while ((Get-Date) -lt $deadline) {
        if ($client -and $client.HasExited) {
            throw "picket exited (code $($client.ExitCode)) while waiting for $What. stderr:`n$(Get-LogTail $script:stderrLog)"
        }
        $n++
        $marker = "$Prefix-$n.txt"
        [System.IO.File]::WriteAllText((Join-Path $SyncDir $marker), $What)
        $wait = (Get-Date).AddSeconds(2)
        while ((Get-Date) -lt $wait) {
            if (Test-OutputMentions $OutputFile $marker) { return $marker }
            Start-Sleep -Milliseconds 100
        }
    }
    throw "no event for $What reached the client's output within $TimeoutSeconds s. stderr:`n$(Get-LogTail $script:stderrLog)"
}

try {
    # ---- 1. The machine and the inputs ---------------------------------------------------
    Write-Step 'Checking the machine'
    Assert-Administrator
    $os = Get-CimInstance Win32_OperatingSystem
    $summary.machine.os = "$($os.Caption) $($os.Version) (build $($os.BuildNumber))"
    Write-Host "    $($summary.machine.os)"
    if ([int]$os.BuildNumber -lt 19041) { throw "Windows build $($os.BuildNumber) predates Windows 10 2004 (19041), the oldest the driver loads on (it needs ExAllocatePool2)." }
    # What the running boot has (its load options), not what bcdedit stored for the next one.
    $summary.machine.test_signing = Test-TestSigningOn
    if (-not $summary.machine.test_signing) {
        if (Test-TestSigningConfigured) {
            throw 'Test signing is set for the next boot but not active in this one: reboot (Restart-Computer) and run this again.'
        }
        throw 'Test signing is off in this boot: run .\Enable-TestSigning.ps1, reboot, and run this again.'
    }
    $summary.machine.secure_boot = Test-SecureBootOn
    if ($summary.machine.secure_boot) {
        throw 'Secure Boot is on, and Windows does not honour test signing with it: turn it off in the VM firmware settings (docs/VM-TESTING.md) and boot again.'
    }
    Write-Host '    test signing: on in this boot (Secure Boot off)'
    $summary.machine.verifier_configured = Test-VerifierConfigured
    if ($summary.machine.verifier_configured) {
        Write-Host '    Driver Verifier: configured for picket_driver.sys'
    } elseif ($AllowNoVerifier) {
        Write-Warning 'Driver Verifier is not set up for picket_driver.sys (-AllowNoVerifier given).'
    } else {
        throw 'Driver Verifier is not set up for picket_driver.sys: run .\Enable-DriverVerifier.ps1 and reboot (or pass -AllowNoVerifier).'
    }
    $debugger = Get-DebuggerSummary
    $summary.machine.kernel_debugger = $debugger
    Write-Host "    kernel debugger: $debugger"

    if (-not $PackageDir) { $PackageDir = Join-Path $BundleDir 'driver' }
    if (-not $ClientExe) { $ClientExe = Join-Path $BundleDir 'picket.exe' }
    if (-not $WorkloadFile) {
        $WorkloadFile = Join-Path $BundleDir 'workload.json'
        if (-not (Test-Path $WorkloadFile)) { $WorkloadFile = Join-Path $PSScriptRoot '..\data\workload.json' }
    }
    foreach ($required in @($ClientExe, $WorkloadFile)) {
        if (-not (Test-Path $required)) { throw "$required not found (build the bundle with 'cargo make vm-bundle')." }
    }
    if (-not $SkipInstall -and -not (Test-Path $PackageDir)) { throw "$PackageDir not found (cargo make package)." }
    $workload = Read-PicketWorkload -Path $WorkloadFile
    Write-Host "    workload: $($workload.name) from $WorkloadFile"

    # ---- 2. Run folder, install, load ---------------------------------------------------
    $stamp = Get-Date -Format 'yyyyMMdd-HHmmss'
    $runDir = Join-Path $WorkRoot "run-$stamp"
    $scratch = Join-Path $runDir 'scratch'
    $syncDir = Join-Path $runDir 'sync'
    $resultsDir = Join-Path $runDir 'results'
    foreach ($dir in @($scratch, $syncDir, $resultsDir)) { New-Item -ItemType Directory -Path $dir -Force | Out-Null }
    # The long, canonical form: the driver reports normalized names.
    $runDir = (Get-Item -LiteralPath $runDir).FullName
    $scratch = (Get-Item -LiteralPath $scratch).FullName
    $syncDir = (Get-Item -LiteralPath $syncDir).FullName
    $summary.run_folder = $runDir
    $outputFile = Join-Path $resultsDir 'events.jsonl'
    $script:stderrLog = Join-Path $resultsDir 'picket.stderr.log'
    $stdoutLog = Join-Path $resultsDir 'picket.stdout.log'

    # From here on the machine is ready: what fails is Picket's package, driver or client.
    $judging = $true
    if (-not $SkipInstall) {
        Install-PicketDriver -PackageDir (Resolve-Path $PackageDir).ProviderPath
        $installedHere = $true
    } else {
        Assert-PicketService
    }
    if (-not (Test-PicketFilterLoaded)) {
        Start-PicketFilter
        $loadedHere = $true
    }
    $summary.machine.verifier_active = Test-VerifierActive
    if ($summary.machine.verifier_configured -and -not $summary.machine.verifier_active) {
        Write-Warning 'Driver Verifier is configured but not active for picket_driver.sys: reboot after Enable-DriverVerifier.ps1.'
    }

    # ---- 3. The client ---------------------------------------------------------------
    # On Windows the minifilter reports every attached volume; --path-prefix keeps the output
    # to the workload's folders (the comparison filters again, so this only saves work). Not
    # the whole run folder: the client's own writes to results\events.jsonl, and this
    # script's reads of it, would be reported into that same file. (No trailing backslash:
    # inside quotes it would escape the closing quote.)
    Write-Step "Starting picket watch on $scratch and $syncDir"
    $client = Start-Process -FilePath $ClientExe -PassThru -NoNewWindow `
        -ArgumentList @('watch', '--output', "`"$outputFile`"", '--path-prefix', "`"$scratch`"", '--path-prefix', "`"$syncDir`"", "`"$runDir`"") `
        -RedirectStandardError $script:stderrLog -RedirectStandardOutput $stdoutLog
    $null = $client.Handle   # keeps the process handle, so ExitCode stays readable
    $probe = Wait-ForMarker -SyncDir $syncDir -OutputFile $outputFile -Prefix 'probe' -What 'the start probe'
    Write-Host "    live: $probe seen in $outputFile"

    # ---- 4. The workload ---------------------------------------------------------------
    Write-Step "Running workload '$($workload.name)' in $scratch (pid $PID)"
    Invoke-PicketWorkload -Workload $workload -Scratch $scratch

    # ---- 5. Drain and stop the client ----------------------------------------------------
    # Records leave the kernel in order: once the end marker is in the output, so is every
    # event of the workload.
    $end = Wait-ForMarker -SyncDir $syncDir -OutputFile $outputFile -Prefix 'end' -What 'the end marker'
    Write-Host "    drained: $end seen"
    Stop-Process -Id $client.Id -Force
    $client.WaitForExit()

    # ---- 6. Compare ----------------------------------------------------------------------
    Write-Step 'Comparing the events with the expectation for windows'
    $observed = Read-ScratchEvents -OutputFile $outputFile -Scratch $scratch
    $comparison = Compare-PicketEvents -Workload $workload -Observed $observed -RunnerPid $PID
    Write-Host $comparison.Report
    $summary.expected_events = $comparison.Expected.Count
    $summary.actual_events = $comparison.Actual.Count
    if (-not $comparison.Passed) { $failures.Add('the events differ from the expectation (see the table above)') }
    $left = @(Get-ChildItem -LiteralPath $scratch -Force)
    if ($left.Count -ne 0) { $failures.Add("the workload left files in the scratch folder: $($left.Name -join ', ')") }
    $exitCode = 1
} catch {
    Write-Host ''
    if ($judging) {
        $failures.Add($_.Exception.Message)
        $exitCode = 1
        Write-Host "FAILED: $($_.Exception.Message)" -ForegroundColor Red
    } else {
        $summary.reason = $_.Exception.Message
        Write-Host "NOT READY: $($_.Exception.Message)" -ForegroundColor Red
    }
} finally {
    # ---- 7. Stop, unload, uninstall, whatever happened above ---------------------------
    if ($client -and -not $client.HasExited) {
        Stop-Process -Id $client.Id -Force -ErrorAction SilentlyContinue
    }
    if (-not $KeepInstalled) {
        # Unloading is part of the test: a filter that cannot unload fails it.
        try {
            if ($judging) { Stop-PicketFilter }
        } catch { $failures.Add("unload failed: $($_.Exception.Message)") }
        try {
            if ($installedHere) { Uninstall-PicketDriver }
        } catch { $failures.Add("uninstall failed: $($_.Exception.Message)") }
    }
    if ($exitCode -ne 2) {
        if ($failures.Count -eq 0) { $exitCode = 0; $summary.result = 'pass' } else { $exitCode = 1; $summary.result = 'fail' }
    } elseif ($failures.Count -gt 0) {
        $summary.reason += " (and: $($failures -join '; '))"
    }
    $summary.failures = @($failures)
    if ($summary.result -eq 'pass') {
        # Asked again at the end: the debugger must have been there during the run.
        $debugger = Get-DebuggerSummary
        $summary.machine.kernel_debugger = $debugger
        $verifierActive = $summary.machine.Contains('verifier_active') -and $summary.machine.verifier_active
        if ($verifierActive -and $debugger -ne 'attached') {
            $summary.result = 'pass (provisional)'
            $summary.reason = "Driver Verifier was active with no kernel debugger attached (kernel debugger: $debugger): Filter Verifier reports violations to a debugger, so one may have gone unseen. Attach one over KDNET (docs/VM-TESTING.md) and run again for a final pass."
        }
    }

    Write-Host ''
    Write-Host '================================ SUMMARY ================================'
    Write-Host "result   : $($summary.result.ToUpperInvariant())"
    if ($summary.reason) { Write-Host "reason   : $($summary.reason)" }
    foreach ($f in $failures) { Write-Host "failure  : $f" }
    Write-Host "events   : expected $($summary.expected_events), got $($summary.actual_events) (ignoring open)"
    foreach ($key in $summary.machine.Keys) { Write-Host ("{0,-9}: {1}" -f $key, $summary.machine[$key]) }
    if ($resultsDir -and (Test-Path $resultsDir)) {
        $summary | ConvertTo-Json -Depth 5 | Set-Content -Path (Join-Path $resultsDir 'summary.json') -Encoding UTF8
        Write-Host "artifacts: $resultsDir"
    }
    Write-Host '========================================================================='
    $color = if ($exitCode -eq 0) { 'Green' } else { 'Red' }
    Write-Host "exit code $exitCode" -ForegroundColor $color
}
exit $exitCode
