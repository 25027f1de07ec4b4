; Test helper, not shipped: reads and writes the Windows Credential Manager through the real API
; (advapi32 CredWriteW / CredEnumerateW) under wine, so tests/installer/test_windows_installer.py can put
; credentials where keyring's Windows backend would, and see which ones the uninstaller leaves.
;
;   credtool.exe /WRITE="target|user;target|user"   write generic credentials (the secret is "not-a-secret")
;   credtool.exe /LIST=Z:\path\out.txt               write "target|user" for every generic credential
;
; It never installs anything: InitializeSetup does the work and returns False.

[Setup]
AppName=NavBill credential test tool
AppVersion=1
DefaultDirName={tmp}\credtool
Uninstallable=no
CreateAppDir=no
OutputBaseFilename=credtool
PrivilegesRequired=lowest

[Code]
const
  CRED_TYPE_GENERIC = 1;
  CRED_PERSIST_LOCAL_MACHINE = 2;
  LPTR = $40;

function CredWrite(Credential: Cardinal; Flags: DWORD): BOOL;
  external 'CredWriteW@advapi32.dll stdcall';
function CredEnumerateAll(Filter: Cardinal; Flags: DWORD; var Count: DWORD; var Credentials: Cardinal): BOOL;
  external 'CredEnumerateW@advapi32.dll stdcall';
procedure CredFree(Buffer: Cardinal);
  external 'CredFree@advapi32.dll stdcall';
function LocalAlloc(Flags: UINT; Bytes: Cardinal): Cardinal;
  external 'LocalAlloc@kernel32.dll stdcall';
procedure PutCardinal(Dest: Cardinal; var Value: Cardinal; Length: Cardinal);
  external 'RtlMoveMemory@kernel32.dll stdcall';
procedure PutChars(Dest: Cardinal; Source: String; Length: Cardinal);
  external 'RtlMoveMemory@kernel32.dll stdcall';
procedure GetCardinal(var Dest: Cardinal; Source: Cardinal; Length: Cardinal);
  external 'RtlMoveMemory@kernel32.dll stdcall';
procedure GetChars(Dest: String; Source: Cardinal; Length: Cardinal);
  external 'RtlMoveMemory@kernel32.dll stdcall';
function WideLength(Source: Cardinal): Integer;
  external 'lstrlenW@kernel32.dll stdcall';

procedure Store(Address: Cardinal; Value: Cardinal);
begin
  PutCardinal(Address, Value, 4);
end;

function Load(Address: Cardinal): Cardinal;
begin
  Result := 0;
  GetCardinal(Result, Address, 4);
end;

function WideCopy(Text: String): Cardinal;
begin
  Result := LocalAlloc(LPTR, (Length(Text) + 1) * 2);
  if Length(Text) > 0 then
    PutChars(Result, Text, Length(Text) * 2);
end;

function ReadWide(Address: Cardinal): String;
begin
  Result := '';
  if (Address <> 0) and (WideLength(Address) > 0) then
  begin
    SetLength(Result, WideLength(Address));
    GetChars(Result, Address, Length(Result) * 2);
  end;
end;

procedure WriteCredential(Target, UserName: String);
var
  Credential: Cardinal;
begin
  // 32-bit CREDENTIALW: Type @4, TargetName @8, CredentialBlobSize @24, CredentialBlob @28, Persist @32,
  // UserName @48; 52 bytes.
  Credential := LocalAlloc(LPTR, 52);
  Store(Credential + 4, CRED_TYPE_GENERIC);
  Store(Credential + 8, WideCopy(Target));
  Store(Credential + 24, 24);
  Store(Credential + 28, WideCopy('not-a-secret'));
  Store(Credential + 32, CRED_PERSIST_LOCAL_MACHINE);
  Store(Credential + 48, WideCopy(UserName));
  if not CredWrite(Credential, 0) then
    RaiseException('CredWriteW failed for ' + Target + ': ' + SysErrorMessage(DLLGetLastError));
end;

procedure WriteCredentials(Spec: String);
var
  Item: String;
  Separator: Integer;
begin
  Spec := Spec + ';';
  while Pos(';', Spec) > 0 do
  begin
    Item := Copy(Spec, 1, Pos(';', Spec) - 1);
    Delete(Spec, 1, Pos(';', Spec));
    Separator := Pos('|', Item);
    if Separator > 0 then
      WriteCredential(Copy(Item, 1, Separator - 1), Copy(Item, Separator + 1, Length(Item)));
  end;
end;

procedure ListCredentials(OutFile: String);
var
  Count, Index: DWORD;
  List, Credential: Cardinal;
  Lines: TArrayOfString;
begin
  SetArrayLength(Lines, 0);
  Count := 0;
  List := 0;
  if CredEnumerateAll(0, 0, Count, List) then
  begin
    SetArrayLength(Lines, Count);
    for Index := 0 to Count - 1 do
    begin
      Credential := Load(List + Index * 4);
      Lines[Index] := ReadWide(Load(Credential + 8)) + '|' + ReadWide(Load(Credential + 48));
    end;
    CredFree(List);
  end;
  if not SaveStringsToUTF8File(OutFile, Lines, False) then
    RaiseException('Cannot write ' + OutFile);
end;

function InitializeSetup(): Boolean;
begin
  if ExpandConstant('{param:WRITE|}') <> '' then
    WriteCredentials(ExpandConstant('{param:WRITE|}'));
  if ExpandConstant('{param:LIST|}') <> '' then
    ListCredentials(ExpandConstant('{param:LIST|}'));
  Result := False;
end;
