; Inno Setup 6.3+ script for NavBill on Windows.
;
; Build (on Windows, from the repository root, after PyInstaller has produced dist\NavBill\):
;   .venv\Scripts\python -m PyInstaller --noconfirm --clean installer\navbill.spec
;   "%ProgramFiles(x86)%\Inno Setup 6\ISCC.exe" installer\windows\navbill.iss
; -> dist\navbill-<version>-setup.exe
;
; Installs per user into %LOCALAPPDATA%\Programs\NavBill without administrator rights; the first page
; offers "install for all users" to someone who has them. The uninstaller asks whether to delete the
; user's data folder (the one platformdirs gives NavBill: %LOCALAPPDATA%\NavBill\NavBill).

; Keep in step with [project] version in pyproject.toml (tests/test_installer_files.py checks);
; a release build may override it: ISCC /DAppVersion=1.2.3 installer\windows\navbill.iss
#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#define AppName "NavBill"
#define AppPublisher "NavBill"
#define GuiExe "NavBill.exe"
#define CliExe "navbill-cli.exe"
#define BundleDir "..\..\dist\NavBill"
; platformdirs.user_data_dir("NavBill", "NavBill") on Windows: data, settings and logs all live under it.
#define UserDataDir "{localappdata}\NavBill\NavBill"

[Setup]
; The AppId identifies the product to Windows across versions: never change it, or upgrades install twice.
AppId={{5B7C3E52-8F0A-4C1D-9E36-2A4D6B1F7C90}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher={#AppPublisher}
VersionInfoVersion={#AppVersion}
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
; Per-user by default: accounting workstations are often locked down, and the data is per user anyway.
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename=navbill-{#AppVersion}-setup
SetupIconFile=..\icons\navbill.ico
UninstallDisplayIcon={app}\{#GuiExe}
UninstallDisplayName={#AppName}
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
; A running NavBill (tray) holds its files open: let the Restart Manager close it for an upgrade or uninstall.
CloseApplications=yes
RestartApplications=no

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "startatlogin"; Description: "Start {#AppName} when I sign in (it waits in the system tray)"; GroupDescription: "Start-up:"
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[InstallDelete]
; An upgrade replaces the bundle wholesale: stale modules from an older version must not linger beside new ones.
Type: filesandordirs; Name: "{app}\_internal"

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#GuiExe}"; Comment: "NAV and BILL accounts-payable connector"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#GuiExe}"; Tasks: desktopicon

[Registry]
; "Start at login": the Run key of the installing user (HKCU), or of the machine for an all-users install (HKA).
; The value is named after the app so the app's own start-at-login setting and this task share one entry.
Root: HKA; Subkey: "Software\Microsoft\Windows\CurrentVersion\Run"; ValueType: string; ValueName: "{#AppName}"; ValueData: """{app}\{#GuiExe}"" --minimized"; Flags: uninsdeletevalue; Tasks: startatlogin

[Run]
Filename: "{app}\{#GuiExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[Code]
// Ask whether the user's data goes too. Default: keep it (a reinstall then finds links, mappings and history);
// a silent uninstall never deletes data. Saved credentials live in the Windows Credential Manager, outside
// this folder; their encryption key is useless without the vault file that is removed here.
procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
var
  DataDir: String;
begin
  if CurUninstallStep <> usPostUninstall then
    exit;
  // Also clear the start-at-login entry the app may have written itself in the user's hive.
  RegDeleteValue(HKEY_CURRENT_USER, 'Software\Microsoft\Windows\CurrentVersion\Run', '{#AppName}');
  DataDir := ExpandConstant('{#UserDataDir}');
  if UninstallSilent or not DirExists(DataDir) then
    exit;
  if MsgBox('Also delete your NavBill data?' + #13#10 + #13#10 +
            'This removes the sync history, vendor links, account mappings, settings, logs and the saved ' +
            'connection details in:' + #13#10 + DataDir + #13#10 + #13#10 +
            'Choose No to keep them for a later reinstall.',
            mbConfirmation, MB_YESNO or MB_DEFBUTTON2) = IDYES then
  begin
    if not DelTree(DataDir, True, True, True) then
      MsgBox('Some files in ' + DataDir + ' could not be deleted; remove the folder by hand.', mbError, MB_OK);
    // The publisher folder above it, when NavBill was its only content.
    RemoveDir(ExtractFileDir(DataDir));
  end;
end;
