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

; Version and product metadata come from ONE place, app\__init__.py (NAME = "value" lines), read here by
; the preprocessor; pyproject.toml and the executables' version resource (navbill.spec) read the same file.
; /D defines on the ISCC command line still win (a build machine may pass /DAppVersion=1.2.3), as does
; /DBundleDir=... (the folder to package; the installer test under wine passes a stand-in, tests/installer/).
#define AppInit AddBackslash(SourcePath) + "..\..\app\__init__.py"
#define FileHandle
#define FileLine
#define ConstName
#define ConstValue
#sub ReadAppConstant
  #define FileLine = FileRead(FileHandle)
  #if Pos(" = """, FileLine) > 0
    #define ConstName = Copy(FileLine, 1, Pos(" = """, FileLine) - 1)
    #define ConstValue = Copy(FileLine, Pos(" = """, FileLine) + 4)
    #define ConstValue = Copy(ConstValue, 1, Pos("""", ConstValue) - 1)
    #if ConstName == "__version__" && !Defined(AppVersion)
      #define public AppVersion = ConstValue
    #elif ConstName == "APP_NAME" && !Defined(AppName)
      #define public AppName = ConstValue
    #elif ConstName == "PUBLISHER" && !Defined(AppPublisher)
      #define public AppPublisher = ConstValue
    #elif ConstName == "DESCRIPTION" && !Defined(AppDescription)
      #define public AppDescription = ConstValue
    #elif ConstName == "COPYRIGHT" && !Defined(AppCopyright)
      #define public AppCopyright = ConstValue
    #endif
  #endif
#endsub
#for {FileHandle = FileOpen(AppInit); FileHandle && !FileEof(FileHandle); ""} ReadAppConstant
#if FileHandle
  #expr FileClose(FileHandle)
#endif
#if !Defined(AppVersion) || !Defined(AppName) || !Defined(AppPublisher) || !Defined(AppDescription) || !Defined(AppCopyright)
  #error app\__init__.py must define __version__, APP_NAME, PUBLISHER, DESCRIPTION and COPYRIGHT on lines NAME = "value"
#endif
#define GuiExe "NavBill.exe"
#define CliExe "navbill-cli.exe"
#ifndef BundleDir
  #define BundleDir "..\..\dist\NavBill"
#endif
; platformdirs.user_data_dir("NavBill", "NavBill") on Windows: data, settings and logs all live under it.
#define UserDataDir "{localappdata}\NavBill\NavBill"
; The vault keeps its key in the Windows Credential Manager through keyring (app\vault.py: KEYRING_SERVICE,
; entries "vault-key/<vault id>/<generation>"). keyring's Windows backend stores the newest entry under the
; target "NavBill" and re-saves older ones under "<entry>@NavBill". "Delete my data" removes exactly those.
#define KeyringService "NavBill"
#define KeyringEntryPrefix "vault-key/"

[Setup]
; The AppId identifies the product to Windows across versions: never change it, or upgrades install twice.
AppId={{5B7C3E52-8F0A-4C1D-9E36-2A4D6B1F7C90}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher={#AppPublisher}
VersionInfoVersion={#AppVersion}
VersionInfoProductName={#AppName}
VersionInfoProductVersion={#AppVersion}
VersionInfoCompany={#AppPublisher}
VersionInfoDescription={#AppName} setup: {#AppDescription}
VersionInfoCopyright={#AppCopyright}
; {autopf}\NavBill: %LOCALAPPDATA%\Programs\NavBill per user, Program Files for all users (see [Code]).
DefaultDirName={code:DefaultInstallDir}
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
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#GuiExe}"; Comment: "{#AppDescription}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#GuiExe}"; Tasks: desktopicon

[Registry]
; "Start at login": the Run key of the installing user (HKCU), or of the machine for an all-users install (HKA).
; The value is named after the app: an in-app start-at-sign-in setting (there is none yet) must use the same
; name, so both share one entry; the uninstaller also clears the user's own value ([Code]).
Root: HKA; Subkey: "Software\Microsoft\Windows\CurrentVersion\Run"; ValueType: string; ValueName: "{#AppName}"; ValueData: """{app}\{#GuiExe}"" --minimized"; Flags: uninsdeletevalue; Tasks: startatlogin

[Run]
Filename: "{app}\{#GuiExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[Code]
// {autopf}: the user's own Programs folder (FOLDERID_UserProgramFiles) for a per-user install, Program Files
// for an all-users one. Wine and Proton cannot resolve FOLDERID_UserProgramFiles ("Failed to expand shell
// folder constant"), so fall back to where Windows puts that folder by default.
function DefaultInstallDir(Param: String): String;
begin
  try
    Result := ExpandConstant('{autopf}\{#AppName}');
  except
    Result := ExpandConstant('{localappdata}\Programs\{#AppName}');
    Log('{autopf} cannot be resolved here; installing into ' + Result);
  end;
end;

// -- Uninstall: the user's data and the vault key ------------------------------------------------------
// Default: keep the data (a reinstall then finds links, mappings and history). Interactive: the uninstaller
// asks, default No. Silent: data is deleted only when /DELETEDATA is on the command line, so a scripted
// uninstall never deletes data unasked. Deleting the data also deletes the vault's key from the Windows
// Credential Manager, and nothing else there.

const
  CRED_TYPE_GENERIC = 1;
  // Offsets in a 32-bit CREDENTIALW (Inno Setup 6 setup and uninstaller are 32-bit programs).
  CRED_TARGETNAME_OFFSET = 8;
  CRED_USERNAME_OFFSET = 48;
  CRED_TYPE_OFFSET = 4;

function CredEnumerate(Filter: String; Flags: DWORD; var Count: DWORD; var Credentials: Cardinal): BOOL;
  external 'CredEnumerateW@advapi32.dll stdcall uninstallonly';
function CredRead(TargetName: String; CredType: DWORD; Flags: DWORD; var Credential: Cardinal): BOOL;
  external 'CredReadW@advapi32.dll stdcall uninstallonly';
function CredDelete(TargetName: String; CredType: DWORD; Flags: DWORD): BOOL;
  external 'CredDeleteW@advapi32.dll stdcall uninstallonly';
procedure CredFree(Buffer: Cardinal);
  external 'CredFree@advapi32.dll stdcall uninstallonly';
procedure CopyCardinal(var Dest: Cardinal; Source: Cardinal; Length: Cardinal);
  external 'RtlMoveMemory@kernel32.dll stdcall uninstallonly';
procedure CopyChars(Dest: String; Source: Cardinal; Length: Cardinal);
  external 'RtlMoveMemory@kernel32.dll stdcall uninstallonly';
function WideLength(Source: Cardinal): Integer;
  external 'lstrlenW@kernel32.dll stdcall uninstallonly';

function ReadCardinal(Address: Cardinal): Cardinal;
begin
  Result := 0;
  CopyCardinal(Result, Address, 4);
end;

function ReadWideString(Address: Cardinal): String;
var
  Length: Integer;
begin
  Result := '';
  if Address = 0 then
    exit;
  Length := WideLength(Address);
  if Length > 0 then
  begin
    SetLength(Result, Length);
    CopyChars(Result, Address, Length * 2);
  end;
end;

// A credential the app's keyring wrote: generic, user name "vault-key/...", target "NavBill" (the newest
// entry) or "<user name>@NavBill" (older entries keyring re-saved). Anything else belongs to someone else.
function IsConnectorCredential(Credential: Cardinal): Boolean;
var
  Target, UserName: String;
begin
  Target := ReadWideString(ReadCardinal(Credential + CRED_TARGETNAME_OFFSET));
  UserName := ReadWideString(ReadCardinal(Credential + CRED_USERNAME_OFFSET));
  Result := (ReadCardinal(Credential + CRED_TYPE_OFFSET) = CRED_TYPE_GENERIC) and
            (Pos('{#KeyringEntryPrefix}', UserName) = 1) and
            ((Target = '{#KeyringService}') or (Target = UserName + '@{#KeyringService}'));
end;

// Deletes the connector's entries from the Credential Manager; returns how many it deleted.
function DeleteConnectorCredentials(): Integer;
var
  Count, Index: DWORD;
  List, Credential: Cardinal;
  Targets: TArrayOfString;
begin
  Result := 0;
  SetArrayLength(Targets, 0);
  if CredRead('{#KeyringService}', CRED_TYPE_GENERIC, 0, Credential) then
  begin
    if IsConnectorCredential(Credential) then
    begin
      SetArrayLength(Targets, GetArrayLength(Targets) + 1);
      Targets[GetArrayLength(Targets) - 1] := '{#KeyringService}';
    end;
    CredFree(Credential);
  end;
  Count := 0;
  List := 0;
  if CredEnumerate('{#KeyringEntryPrefix}*', 0, Count, List) then
  begin
    for Index := 0 to Count - 1 do
    begin
      Credential := ReadCardinal(List + Index * 4);
      if IsConnectorCredential(Credential) then
      begin
        SetArrayLength(Targets, GetArrayLength(Targets) + 1);
        Targets[GetArrayLength(Targets) - 1] := ReadWideString(ReadCardinal(Credential + CRED_TARGETNAME_OFFSET));
      end;
    end;
    CredFree(List);
  end;
  for Index := 0 to GetArrayLength(Targets) - 1 do
    if CredDelete(Targets[Index], CRED_TYPE_GENERIC, 0) then
      Result := Result + 1
    else
      Log('Could not delete the credential ' + Targets[Index]);
  Log(Format('Deleted %d NavBill credential(s) from the Credential Manager', [Result]));
end;

function CommandLineAsksToDeleteData(): Boolean;
var
  Index: Integer;
begin
  Result := False;
  for Index := 1 to ParamCount do
    if CompareText(ParamStr(Index), '/DELETEDATA') = 0 then
      Result := True;
end;

function UserWantsDataDeleted(DataDir: String): Boolean;
begin
  if UninstallSilent then
    Result := CommandLineAsksToDeleteData()
  else
    Result := DirExists(DataDir) and
      (MsgBox('Also delete your {#AppName} data?' + #13#10 + #13#10 +
              'This removes the sync history, vendor links, account mappings, settings, logs and the saved ' +
              'connection details in:' + #13#10 + DataDir + #13#10 +
              'and the key of the saved credentials in the Windows Credential Manager.' + #13#10 + #13#10 +
              'Choose No to keep them for a later reinstall.',
              mbConfirmation, MB_YESNO or MB_DEFBUTTON2) = IDYES);
end;

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
var
  DataDir: String;
begin
  if CurUninstallStep <> usPostUninstall then
    exit;
  // Also clear a start-at-sign-in entry in the user's own hive (an all-users install wrote HKLM).
  RegDeleteValue(HKEY_CURRENT_USER, 'Software\Microsoft\Windows\CurrentVersion\Run', '{#AppName}');
  DataDir := ExpandConstant('{#UserDataDir}');
  if not UserWantsDataDeleted(DataDir) then
  begin
    Log('Keeping the user''s data in ' + DataDir);
    exit;
  end;
  DeleteConnectorCredentials();
  if DirExists(DataDir) then
  begin
    if not DelTree(DataDir, True, True, True) then
    begin
      Log('Some files in ' + DataDir + ' could not be deleted');
      if not UninstallSilent then
        MsgBox('Some files in ' + DataDir + ' could not be deleted; remove the folder by hand.', mbError, MB_OK);
    end;
    // The publisher folder above it, when NavBill was its only content.
    RemoveDir(ExtractFileDir(DataDir));
  end;
end;
