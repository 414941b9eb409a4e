# SessionForge agent installer for Windows (x64 and arm64).
#
#   $env:SESSIONFORGE_TOKEN='sfe_...'; irm https://YOUR-SERVER/install.ps1 | iex
#
# Downloads the newest agent build from the SessionForge server that served this script,
# checks its SHA-256 with Get-FileHash (and refuses to install on a mismatch), installs it
# under %LOCALAPPDATA%\SessionForge\bin, adds that folder to your PATH, enrolls this machine
# with the token in SESSIONFORGE_TOKEN and starts the agent at every login. Running it again
# upgrades in place. Set SESSIONFORGE_UNINSTALL=1 to remove it.

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3

# Filled in by the server when it serves this script.
$Server = '__SESSIONFORGE_SERVER__'
$Fingerprint = '__SESSIONFORGE_FINGERPRINT__'
$PinnedToSelfSigned = '__SESSIONFORGE_PIN__' -ne ''

if ($env:SESSIONFORGE_SERVER_URL) { $Server = $env:SESSIONFORGE_SERVER_URL }
$Server = $Server.TrimEnd('/')
$Channel = if ($env:SESSIONFORGE_CHANNEL) { $env:SESSIONFORGE_CHANNEL } else { 'stable' }
$InstallDir = if ($env:SESSIONFORGE_INSTALL_DIR) { $env:SESSIONFORGE_INSTALL_DIR } else { Join-Path $env:LOCALAPPDATA 'SessionForge\bin' }
$Exe = Join-Path $InstallDir 'sessionforge-agent.exe'
$RunKey = 'HKCU:\Software\Microsoft\Windows\CurrentVersion\Run'
$RunValue = 'SessionForgeAgent'

function Say($msg) { Write-Host "sessionforge: $msg" }
function Fail($msg) { throw "sessionforge: error: $msg" }

if ($Channel -notin @('stable', 'beta')) { Fail "unknown channel $Channel; use stable or beta" }

# HTTP client: for a self-signed server, trust exactly its certificate (by SHA-256), nothing else.
Add-Type -AssemblyName System.Net.Http
$handler = New-Object System.Net.Http.HttpClientHandler
if ($PinnedToSelfSigned) {
    $expected = ($Fingerprint -replace ':', '').ToUpperInvariant()
    $handler.ServerCertificateCustomValidationCallback = {
        param($request, $cert, $chain, $errors)
        return $cert.GetCertHashString([System.Security.Cryptography.HashAlgorithmName]::SHA256) -eq $expected
    }.GetNewClosure()
}
$http = New-Object System.Net.Http.HttpClient($handler)
$http.Timeout = [TimeSpan]::FromMinutes(10)

function Get-Text($url) {
    $resp = $http.GetAsync($url).GetAwaiter().GetResult()
    if (-not $resp.IsSuccessStatusCode) { return $null }
    return $resp.Content.ReadAsStringAsync().GetAwaiter().GetResult()
}

function Save-File($url, $path) {
    $resp = $http.GetAsync($url, [System.Net.Http.HttpCompletionOption]::ResponseHeadersRead).GetAwaiter().GetResult()
    if (-not $resp.IsSuccessStatusCode) { Fail "download failed ($([int]$resp.StatusCode)): $url" }
    $out = [System.IO.File]::Create($path)
    try { $resp.Content.CopyToAsync($out).GetAwaiter().GetResult() } finally { $out.Dispose() }
}

function Remove-FromUserPath($dir) {
    $path = [Environment]::GetEnvironmentVariable('Path', 'User')
    if ($path) {
        $kept = ($path -split ';' | Where-Object { $_ -and ($_ -ne $dir) }) -join ';'
        [Environment]::SetEnvironmentVariable('Path', $kept, 'User')
    }
}

if ($env:SESSIONFORGE_UNINSTALL -eq '1') {
    Get-Process -Name 'sessionforge-agent' -ErrorAction SilentlyContinue | Where-Object { $_.Path -eq $Exe } | Stop-Process -Force
    Remove-ItemProperty -Path $RunKey -Name $RunValue -ErrorAction SilentlyContinue
    Remove-Item -Force -ErrorAction SilentlyContinue $Exe
    Remove-FromUserPath $InstallDir
    Say 'removed the agent (configuration and credentials were kept)'
    return
}

# Which builds this machine runs: native arm64 first, then x64 (emulated on arm64).
$arch = [System.Runtime.InteropServices.RuntimeInformation]::OSArchitecture.ToString()
$targets = switch ($arch) {
    'Arm64' { @('aarch64-pc-windows-msvc', 'x86_64-pc-windows-msvc') }
    'X64' { @('x86_64-pc-windows-msvc') }
    default { Fail "unsupported processor $arch (x64 and arm64 are supported)" }
}

$latest = $null
foreach ($t in $targets) {
    $latest = Get-Text "$Server/api/v1/releases/latest?target=$t&channel=$Channel"
    if ($latest) { $target = $t; break }
}
if (-not $latest) { Fail "$Server has no $Channel agent build for Windows $arch" }
$info = @{}
foreach ($line in ($latest -split "`n")) {
    $kv = $line.Split('=', 2)
    if ($kv.Count -eq 2) { $info[$kv[0].Trim()] = $kv[1].Trim() }
}
if (-not $info['version'] -or -not $info['url'] -or $info['sha256'].Length -ne 64) {
    Fail "the server's answer about the latest build is incomplete"
}

$installed = $null
if (Test-Path $Exe) { $installed = ((& $Exe --version) -split ' ')[1] }
if ($installed -eq $info['version']) {
    Say "sessionforge-agent $installed is already installed in $InstallDir"
} else {
    $tmp = Join-Path ([System.IO.Path]::GetTempPath()) ("sessionforge-" + [Guid]::NewGuid() + '.exe')
    try {
        Say "downloading sessionforge-agent $($info['version']) ($target)"
        Save-File $info['url'] $tmp
        $actual = (Get-FileHash -Algorithm SHA256 -Path $tmp).Hash.ToLowerInvariant()
        if ($actual -ne $info['sha256']) { Fail "checksum mismatch: expected $($info['sha256']), got $actual; nothing was installed" }
        # Windows PowerShell has no ed25519 verifier: say what was and was not checked. The agent
        # itself verifies every manifest it updates from against the key it pins at enrollment.
        Say "checked the SHA-256 over HTTPS; the release manifest's signature cannot be verified by this script"
        New-Item -ItemType Directory -Force -Path $InstallDir | Out-Null
        # A running agent holds its file: stop it so the new one can take its place.
        Get-Process -Name 'sessionforge-agent' -ErrorAction SilentlyContinue | Where-Object { $_.Path -eq $Exe } | Stop-Process -Force
        Move-Item -Force $tmp $Exe
        Say "installed $Exe ($($info['version']))"
    } finally {
        Remove-Item -Force -ErrorAction SilentlyContinue $tmp
    }
}

$userPath = [Environment]::GetEnvironmentVariable('Path', 'User')
if (-not (($userPath -split ';') -contains $InstallDir)) {
    [Environment]::SetEnvironmentVariable('Path', ((@($userPath, $InstallDir) | Where-Object { $_ }) -join ';'), 'User')
    Say "added $InstallDir to your PATH (new terminals will see it)"
}

if ($env:SESSIONFORGE_TOKEN) {
    $enroll = @('enroll', '--server', $Server, '--skip-if-enrolled')
    if ($PinnedToSelfSigned) { $enroll += @('--fingerprint', $Fingerprint) }
    if ($env:SESSIONFORGE_SIGNING_KEY_ID) { $enroll += @('--signing-key-id', $env:SESSIONFORGE_SIGNING_KEY_ID) }
    # The token reaches the agent through the environment, never its command line (which other
    # users can see).
    & $Exe @enroll
    if ($LASTEXITCODE -ne 0) { Fail "enrollment failed (see above); the agent is installed in $InstallDir" }
    Set-ItemProperty -Path $RunKey -Name $RunValue -Value "`"$Exe`" run"
    Start-Process -FilePath $Exe -ArgumentList 'run' -WindowStyle Hidden
    Say 'the agent starts at every login and is running now'
} else {
    Say "no SESSIONFORGE_TOKEN set: enroll later with: sessionforge-agent enroll --server $Server --token - (and paste the token)"
}
Say 'done'
